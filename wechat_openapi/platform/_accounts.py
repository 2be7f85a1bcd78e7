"""The accounts that authorize the platform: onboarding a new one, reading one, listing all.

Onboarding is two steps. :func:`authorization_url` gets a single-use ``pre_auth_code``
(``api_create_preauthcode``, 30 minutes) and builds the page the account's admin opens;
WeChat then redirects to the platform with an ``auth_code`` (and pushes ``authorized`` with
the same code), which :func:`complete_authorization` trades for the account's first refresh
token (``api_query_auth``), saved at once and used to seed the account's authorizer token.

Every answer here carries tokens, so every string in it is masked in any error about it
(see ``_redact.SECRET_ANSWERS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

from .._settings import required_text
from ..errors import (
    AUTHORIZER_INFO_PATH,
    AUTHORIZER_LIST_PATH,
    PREAUTHCODE_PATH,
    QUERY_AUTH_PATH,
)
from ..models import _bad, _get, _int, _issued
from ..tokens import CallContext
from ._models import Authorization, AuthorizerInfo, AuthorizerListing

if TYPE_CHECKING:
    from ._platform import ComponentPlatform

PC_AUTHORIZATION_PAGE = "https://mp.weixin.qq.com/cgi-bin/componentloginpage"
MOBILE_AUTHORIZATION_PAGE = "https://mp.weixin.qq.com/safe/bindcomponent"
AUTH_TYPES = (1, 2, 3, 4, 5, 6)  # which kinds of account may authorize; see authorization_url
LIST_PAGE = 500  # the most api_get_authorizer_list returns at once


def _pre_auth_code(data: Mapping[str, Any]) -> str:
    code, _ = _issued(data, "PreAuthCode", "pre_auth_code")
    return str(code)


def authorization_url(
    platform: ComponentPlatform,
    redirect_uri: str,
    *,
    auth_type: int = 3,
    biz_appid: Optional[str] = None,
    mobile: bool = False,
) -> str:
    """The authorization page for an account's admin, with a fresh pre_auth_code."""
    required_text("redirect_uri", redirect_uri)
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or not target.netloc:
        raise ValueError("redirect_uri must be an http(s) URL on the platform's domain")
    if isinstance(auth_type, bool) or not isinstance(auth_type, int):
        raise TypeError(f"auth_type must be an int, got {type(auth_type).__name__}")
    if auth_type not in AUTH_TYPES:
        raise ValueError(f"auth_type must be one of {AUTH_TYPES}, got {auth_type}")
    if biz_appid is not None:
        required_text("biz_appid", biz_appid)
    call = platform._client._context()
    data = platform._post_as_platform(call, PREAUTHCODE_PATH, {})
    code = call.parsed(_pre_auth_code, data, PREAUTHCODE_PATH)
    params = [
        ("component_appid", platform._appid),
        ("pre_auth_code", code),
        ("redirect_uri", redirect_uri),
    ]
    # WeChat: biz_appid names the one account that may authorize, and then auth_type is moot.
    params.append(("biz_appid", biz_appid) if biz_appid else ("auth_type", str(auth_type)))
    if mobile:
        query = urlencode([("action", "bindcomponent"), ("no_scan", "1"), *params], quote_via=quote)
        return f"{MOBILE_AUTHORIZATION_PAGE}?{query}#wechat_redirect"
    return f"{PC_AUTHORIZATION_PAGE}?{urlencode(params, quote_via=quote)}"


def complete_authorization(platform: ComponentPlatform, auth_code: str) -> Authorization:
    """Trade ``auth_code`` for the account's authorization; save and seed its tokens."""
    required_text("auth_code", auth_code)
    call = platform._client._context()
    body = {"authorization_code": auth_code.strip()}
    # Not retried: the code is single-use, and an answer lost on the way is recovered from
    # WeChat at the account's first call (its refresh token is then looked up).
    data = platform._post_as_platform(
        call, QUERY_AUTH_PATH, body, secrets=(auth_code,), retry=False
    )
    authorization = call.parsed(Authorization.from_response, data, QUERY_AUTH_PATH)
    refresh_token = authorization.authorizer_refresh_token
    token, expires_in = authorization.authorizer_access_token, authorization.expires_in
    if refresh_token is not None and token is not None and expires_in is not None:
        slot = platform._authorizer(authorization.authorizer_appid)
        slot.authorized(refresh_token, token, expires_in, call)
    return authorization


def authorizer_info(platform: ComponentPlatform, appid: str, call: CallContext) -> AuthorizerInfo:
    """One account's profile and grant, within ``call``'s deadline."""
    data = platform._post_as_platform(call, AUTHORIZER_INFO_PATH, {"authorizer_appid": appid})
    return call.parsed(AuthorizerInfo.from_response, data, AUTHORIZER_INFO_PATH)


def iter_authorizers(platform: ComponentPlatform) -> Iterator[AuthorizerListing]:
    """Every account that authorizes the platform, a page (one call) at a time."""
    offset = 0
    while True:
        call = platform._client._context()
        body = {"offset": offset, "count": LIST_PAGE}
        data = platform._post_as_platform(call, AUTHORIZER_LIST_PATH, body)
        total, entries = call.parsed(_page, data, AUTHORIZER_LIST_PATH)
        if not entries:
            return
        for entry in entries:
            yield call.parsed(AuthorizerListing.from_response, entry, AUTHORIZER_LIST_PATH)
        offset += len(entries)
        if offset >= total:
            return


def _page(data: Mapping[str, Any]) -> Tuple[int, Tuple[Mapping[str, Any], ...]]:
    """``total_count`` and the entries of one api_get_authorizer_list page."""
    total = _int(data, "AuthorizerList", "total_count")
    entries = _get(data, "AuthorizerList", "list", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise _bad("AuthorizerList", "list", "is not a list of objects")
    return total, tuple(entries)
