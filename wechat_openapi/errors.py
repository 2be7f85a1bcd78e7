"""Everything the library raises for a failed call, and the table from errcode to class.

Each documented WeChat errcode has its own class carrying the doc's advice as ``hint``, so
callers can ``except RidExpiredError`` instead of comparing numbers. A code can mean different
things on different endpoints (76003 is another account's rid on rid/get, a malformed cgi_path
on quota/get), so :func:`api_error` picks the table by path. Codes not in it raise plain
:class:`APIError`, or the endpoint's base class (:class:`StableTokenError`). Every class pickles
with its fields intact, because Celery and multiprocessing send exceptions between processes.
"""

from __future__ import annotations

import re
from typing import ClassVar, Dict, Optional, Tuple, Type, TypeVar, cast

# Both patterns start with the literal "rid:" and have no two ways to match the same text, so
# they run in linear time on any errmsg (a leading \s* once made 300,000 spaces take minutes).
_RID_TAIL = re.compile(r"rid:\s*[0-9A-Za-z]+(?:-[0-9A-Za-z]+)+\s*")
_RID_ANYWHERE = re.compile(r"\brid:\s*([0-9A-Za-z]+(?:-[0-9A-Za-z]+)+)")


def find_rid(text: str) -> Optional[str]:
    """Return the last ``rid: 617682e0-09059ac5-34a8e2ea`` found in ``text``, or None.

    WeChat appends the rid to every errmsg; this also finds it in a pasted log line.
    """
    found = _RID_ANYWHERE.findall(text)
    return found[-1] if found else None


def without_rid(errmsg: str) -> str:
    """``errmsg`` without the ``rid: ...`` WeChat appends to it (and the space before it)."""
    start = errmsg.rfind("rid:")
    if start < 0 or not _RID_TAIL.fullmatch(errmsg, start):
        return errmsg
    if start > 0 and (errmsg[start - 1].isalnum() or errmsg[start - 1] == "_"):
        return errmsg  # "xrid:" is not WeChat's suffix
    return errmsg[:start].rstrip()


class WeChatError(Exception):
    """Base class of every error the library raises for a failed call.

    ``retryable`` says whether the failure may pass, so that the transport tries the call
    again (within ``max_retries`` and the deadline).
    """

    retryable: bool = False

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return self.message


class TransportError(WeChatError):
    """The request did not complete: the connection failed, broke or timed out.

    ``retryable`` says whether the library treated the failure as safe to try again
    (a refused or reset connection is; a certificate that does not verify is not).
    """

    def __init__(self, message: str, path: Optional[str] = None, retryable: bool = True) -> None:
        super().__init__(message, path)
        self.retryable = retryable


class RequestTimeoutError(TransportError):
    """No complete answer arrived within the timeout or the call's total deadline."""

    @classmethod
    def deadline_passed(
        cls, deadline: float, when: str, path: Optional[str] = None
    ) -> RequestTimeoutError:
        """The error for a call whose ``deadline`` (seconds in all) passed ``when``."""
        prefix = f"POST {path}: " if path else ""
        return cls(f"{prefix}the call's deadline of {deadline:g}s passed {when}", path)


class InvalidResponseError(WeChatError):
    """WeChat (or something in between) answered with something that is not a usable answer.

    A non-2xx status, a body that is not a JSON object (an HTML gateway page, an empty body),
    a body over the size cap, or a success answer missing a field the model needs.
    ``status_code`` is the HTTP status when there was one; a 429 or 5xx is retryable.
    """

    def __init__(
        self,
        message: str,
        path: Optional[str] = None,
        status_code: Optional[int] = None,
    ) -> None:
        super().__init__(message, path)
        self.status_code = status_code
        self.retryable = status_code is not None and (status_code == 429 or status_code >= 500)


class TokenUnavailableError(WeChatError):
    """No usable access token could be had, so nothing was sent.

    Raised when a token source returns something that is not a token (``None`` from an empty
    cache, ``""``, a non-str). An exception raised by your own token function is not wrapped:
    it propagates as it is.
    """


class PushVerificationError(WeChatError):
    """A push to the platform's callback URL was refused: its signature, age, size, XML,
    padding or appid did not check out. The message says which; it never quotes the push
    token, the key, a ticket, a code or any decrypted text. Answer such a request with an
    HTTP 4xx and nothing else: WeChat never sends one."""


class MissingDependencyError(WeChatError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it
    (``pip install "wechat-openapi[platform]"`` for push crypto)."""


class APIError(WeChatError):
    """WeChat answered with a non-zero ``errcode``.

    ``errmsg`` is WeChat's text as sent; ``rid`` is the request id WeChat appends to it
    (look it up with ``Client.get_rid_info``); ``hint`` is the docs' advice for the code.
    """

    code: ClassVar[Optional[int]] = None
    hint: ClassVar[Optional[str]] = None

    def __init__(self, errcode: int, errmsg: str = "", path: Optional[str] = None) -> None:
        summary = without_rid(errmsg) or "(no errmsg)"
        self.errcode = errcode
        self.errmsg = errmsg
        self.rid = find_rid(errmsg)
        text = f"{errcode} {summary}"
        if self.hint:
            text += f" ({self.hint})"
        if self.rid:
            text += f" [rid: {self.rid}]"
        super().__init__(text, path)
        # BaseException pickles as cls(*args) plus __dict__; make args fit our signature.
        self.args = (errcode, errmsg, path)


class SystemBusyError(APIError):
    code = -1
    retryable = True
    hint = "WeChat is busy; try again shortly"


class AccessTokenError(APIError):
    """The access_token was refused; the subclasses say why."""


class InvalidCredentialError(AccessTokenError):
    code = 40001
    hint = (
        "the access_token is invalid or not the latest: check the AppSecret and that the "
        "token belongs to this account"
    )


class InvalidAccessTokenError(AccessTokenError):
    code = 40014
    hint = "the access_token is malformed or invalid: fetch a new one"


class AccessTokenExpiredError(AccessTokenError):
    code = 42001
    hint = "the access_token has expired: fetch a new one"


class InvalidAppIdError(APIError):
    code = 40013
    hint = "invalid AppID: check it for typos, stray characters and case"


class QuotaExceededError(APIError):
    code = 45009
    hint = (
        "the daily API quota is used up: client.get_api_quota(PATH) or `wechat-openapi quota "
        "PATH` shows it; wait for tomorrow, or reset it with clear_quota (10 resets a month)"
    )

    def __init__(self, errcode: int, errmsg: str = "", path: Optional[str] = None) -> None:
        if path:  # name the API whose quota ran out
            self.hint = self.hint.replace("PATH", path)  # type: ignore[misc]
        super().__init__(errcode, errmsg, path)


class RidNotFoundError(APIError):
    code = 76001
    hint = (
        "rid not found: check that it came from this account; a rid older than 7 days "
        "also gives 76001"
    )


class InvalidRidError(APIError):
    code = 76002
    hint = "the rid is empty or malformed"


class RidPermissionDeniedError(APIError):
    code = 76003
    hint = "the rid belongs to another account: query it with that account's token"


class RidExpiredError(APIError):
    code = 76004
    hint = "rid expired: only the last 7 days can be queried"


class RidNotSupportedError(APIError):
    code = 76022
    hint = "rids of /sns/ interfaces cannot be queried"


class OpenAccountNotBoundError(APIError):
    code = 89002
    hint = "the account is not bound to an open platform account"


class NicknameAuditNotFoundError(APIError):
    code = 91011
    hint = "no nickname change audit with this audit_id"


class AccessTokenMissingError(APIError):
    code = 41001
    hint = "the request carried no access_token"


class MinuteQuotaExceededError(APIError):
    code = 45011
    hint = "the API's per-minute quota is used up: try again in a minute (not retried)"


class APIUnauthorizedError(APIError):
    code = 48001
    hint = (
        "api unauthorized: is this a component token on an authorizer API, or does the "
        "account lack this permission?"
    )


class ComponentTokenRequiredError(APIUnauthorizedError):
    code = 61014
    hint = (
        "this API is the platform's own: call it with the component_access_token "
        "(ComponentPlatform's methods), not an account's token"
    )


class ComponentTokenNotAllowedError(APIUnauthorizedError):
    code = 61015
    hint = (
        "this API is an account's: call it with the account's own or authorizer_access_token "
        "(platform.client(appid)), not the component_access_token"
    )


class IPNotWhitelistedError(APIError):
    code = 40164
    hint = (
        "this server's IP is not on the account's API IP whitelist (the errmsg names the "
        "address WeChat saw): add it in the account's settings"
    )


class IPConfirmationError(APIError):
    """Calls from this server's IP need the account admin's confirmation; the subclasses
    say where that stands."""


class IPConfirmationPendingError(IPConfirmationError):
    code = 89501
    hint = "this IP is awaiting the admin's confirmation: ask the admin to confirm, then retry"


class IPNeedsConfirmationError(IPConfirmationError):
    code = 89503
    hint = "calls from this IP need the admin's confirmation: ask the admin, then retry"


class IPRefusedTwiceError(IPConfirmationError):
    code = 89506
    hint = "the admin refused this IP twice within 24 hours: it cannot call for 24 hours"


class IPRefusedError(IPConfirmationError):
    code = 89507
    hint = "the admin refused this IP within the hour: it cannot call for an hour"


class AppIdMissingError(APIError):
    code = 41002
    hint = "the appid is missing"


class AppSecretMissingError(APIError):
    code = 41004
    hint = "the appsecret is missing"


class ClearQuotaLimitError(APIError):
    code = 48006
    hint = "the 10 quota resets of this month are used up (clear_quota and its v2 share them)"


class QuotaPathNotFoundError(APIError):
    code = 76021
    hint = "cgi_path not found or malformed: give an API path such as /cgi-bin/message/custom/send"


class QuotaPathMalformedError(APIError):
    code = 76003
    hint = (
        "cgi_path is malformed: give the API's path alone, starting with '/', without "
        "https://api.weixin.qq.com"
    )


class QuotaNotQueryableError(APIError):
    code = 76022
    hint = "this token cannot query this API's quota (an /sns/ API, or another account's)"


class ComponentError(APIError):
    """A third-party platform (component) error: its tickets, tokens or authorizations."""


class ComponentNotAuthorizedError(ComponentError):
    code = 61003
    hint = "the account has not authorized this platform (or revoked it): ask it to authorize"


class ComponentIPNotWhitelistedError(ComponentError):
    code = 61004
    hint = (
        "this server's IP is not on the platform's IP whitelist (requestIP in the errmsg is "
        "the address WeChat saw)"
    )


class VerifyTicketExpiredError(ComponentError):
    code = 61005
    hint = (
        "the component_verify_ticket has expired: is the callback URL still receiving "
        "pushes? start_push_ticket() asks WeChat to resume them"
    )


class VerifyTicketInvalidError(ComponentError):
    code = 61006
    hint = "the component_verify_ticket is invalid: store the newest pushed ticket as decrypted"


class ComponentAPIUnauthorizedError(ComponentError):
    code = 61007
    hint = "the account has not granted this API to the platform (api unauthorized to component)"


class InvalidComponentError(ComponentError):
    code = 61011
    hint = "invalid component: check the platform's component_appid"


class RefreshTokenInvalidError(ComponentError):
    code = 61023
    hint = (
        "WeChat refused the authorizer_refresh_token, and its current one could not be had "
        "just now (api_get_authorizer_info is asked once per refused token, at most every "
        "10 s per account): try again shortly. If it persists, the store holds a token WeChat "
        "no longer knows, and an account that still shows the platform as authorized must "
        "authorize again"
    )


class AuthorizationCodeInvalidError(ComponentError):
    code = 61009
    hint = (
        "the authorization code is invalid or already used: each code completes one "
        "authorization; start again from a new authorization_url()"
    )


class AuthorizationCodeExpiredError(ComponentError):
    code = 61010
    hint = (
        "the authorization code has expired (it lives an hour): complete authorizations as "
        "they arrive, or start again from a new authorization_url()"
    )


class AuthorizationRevokedError(ComponentNotAuthorizedError):
    """The account no longer authorizes the platform, as WeChat said (an ``unauthorized``
    push, or 61003 when its refresh token was looked up). Raised without a round trip until
    it authorizes again: :meth:`ComponentPlatform.complete_authorization`, an ``authorized``
    push, or a different refresh token in the store."""

    hint = (
        "the account no longer authorizes this platform: it must authorize again "
        "(authorization_url, then complete_authorization)"
    )


class ComponentQuotaExceededError(ComponentError, QuotaExceededError):
    code = 45009
    hint = (
        "the platform's daily quota of api_component_token is used up, so no component token "
        "can be had: platform.clear_quota_by_component_secret() resets it with the component "
        "secret and no token (10 resets a month)"
    )


class InvalidComponentSecretError(ComponentError):
    code = 40125
    hint = "invalid component_appsecret: check the platform's secret (it may have been reset)"


_Error = TypeVar("_Error", bound=APIError)


def _by_code(*classes: Type[_Error]) -> Dict[int, Type[_Error]]:
    """The lookup table from errcode to class, built from the classes' own ``code``."""
    return {cls.code: cls for cls in classes if cls.code is not None}


ERRORS_BY_CODE: Dict[int, Type[APIError]] = _by_code(
    SystemBusyError,
    InvalidCredentialError,
    InvalidAccessTokenError,
    AccessTokenExpiredError,
    InvalidAppIdError,
    QuotaExceededError,
    OpenAccountNotBoundError,
    NicknameAuditNotFoundError,
    AppIdMissingError,
    AppSecretMissingError,
    ClearQuotaLimitError,
    AccessTokenMissingError,
    MinuteQuotaExceededError,
    APIUnauthorizedError,
    ComponentTokenRequiredError,
    ComponentTokenNotAllowedError,
    IPNotWhitelistedError,
    IPConfirmationPendingError,
    IPNeedsConfirmationError,
    IPRefusedTwiceError,
    IPRefusedError,
    ComponentNotAuthorizedError,
    ComponentIPNotWhitelistedError,
    VerifyTicketInvalidError,
    ComponentAPIUnauthorizedError,
    InvalidComponentError,
    RefreshTokenInvalidError,
)
"""The codes every endpoint shares. An endpoint whose codes mean something of their own
(rid/get's 76001-76004, quota/get's 76003, the token endpoints') has its own table."""


class StableTokenError(APIError):
    """The stable_token endpoint would not issue a token; the subclasses say why.

    Every code the endpoint answers with raises a StableTokenError. Where a general class
    exists for the code, the class raised is one too, so ``except QuotaExceededError`` also
    catches the token endpoint's 45009 and ``except IPConfirmationError`` its 89503.
    """


class StableTokenBusyError(StableTokenError, SystemBusyError):
    code = -1
    hint = "WeChat is busy issuing tokens; try again shortly"


class StableTokenInvalidAppIdError(StableTokenError, InvalidAppIdError):
    code = 40013
    hint = "invalid AppID: check the appid given to StableTokenProvider"


class InvalidAppSecretError(StableTokenError):
    code = 40125
    hint = "invalid AppSecret: check the secret for this appid (it may have been reset)"


class StableTokenIPNotWhitelistedError(StableTokenError, IPNotWhitelistedError):
    """40164 from the token endpoint: both a StableTokenError and an IPNotWhitelistedError."""


class StableTokenComponentAppIdError(StableTokenError):
    code = 61024
    hint = (
        "this appid is a third-party platform's (component): its token comes from "
        "api_component_token, so use ComponentPlatform, not StableTokenProvider"
    )


class StableTokenQuotaExceededError(StableTokenError, QuotaExceededError):
    code = 45009
    hint = "the stable_token quota is used up (force_refresh is limited per day)"


STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
COMPONENT_TOKEN_PATH = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN_PATH = "/cgi-bin/component/api_authorizer_token"
START_PUSH_TICKET_PATH = "/cgi-bin/component/api_start_push_ticket"
PREAUTHCODE_PATH = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH_PATH = "/cgi-bin/component/api_query_auth"
AUTHORIZER_INFO_PATH = "/cgi-bin/component/api_get_authorizer_info"
AUTHORIZER_LIST_PATH = "/cgi-bin/component/api_get_authorizer_list"
COMPONENT_CLEAR_QUOTA_PATH = "/cgi-bin/component/clear_quota"
COMPONENT_CLEAR_QUOTA_V2_PATH = "/cgi-bin/component/clear_quota/v2"
QUOTA_GET_PATH = "/cgi-bin/openapi/quota/get"
RID_GET_PATH = "/cgi-bin/openapi/rid/get"

# The access-token codes name the token a call sent; the token endpoint takes none, so there
# they stay plain StableTokenErrors (a token source must not answer them with a new token).
_NOT_ON_STABLE_TOKEN = frozenset(
    cls.code
    for cls in (
        InvalidCredentialError,
        InvalidAccessTokenError,
        AccessTokenExpiredError,
        AccessTokenMissingError,
    )
)


def _on_stable_token(common: Type[APIError]) -> Type[APIError]:
    """``common`` as the token endpoint raises it: a class that is both a StableTokenError
    and ``common``, with its code and hint. It is bound in this module under its name, as
    pickle looks classes up by module and name."""
    name = f"StableToken{common.__name__}"
    derived = cast(
        Type[APIError],
        type(
            name,
            (StableTokenError, common),
            {"__module__": __name__, "__doc__": f"{common.code} from the token endpoint."},
        ),
    )
    globals()[name] = derived
    return derived


_STABLE_TOKEN_OWN: Dict[int, Type[APIError]] = _by_code(
    StableTokenBusyError,
    StableTokenInvalidAppIdError,
    InvalidAppSecretError,
    StableTokenIPNotWhitelistedError,
    StableTokenComponentAppIdError,
    StableTokenQuotaExceededError,
)
_STABLE_TOKEN_ERRORS: Dict[int, Type[APIError]] = {
    **{
        code: _on_stable_token(cls)
        for code, cls in ERRORS_BY_CODE.items()
        if code not in _NOT_ON_STABLE_TOKEN and code not in _STABLE_TOKEN_OWN
    },
    **_STABLE_TOKEN_OWN,
}

_COMPONENT_ERRORS: Dict[int, Type[APIError]] = {
    **ERRORS_BY_CODE,
    **_by_code(
        VerifyTicketExpiredError,
        InvalidComponentSecretError,
        AuthorizationCodeInvalidError,
        AuthorizationCodeExpiredError,
    ),
}

# Endpoints whose codes mean something of their own: (their table, the class for other codes).
_ENDPOINT_ERRORS: Dict[str, Tuple[Dict[int, Type[APIError]], Type[APIError]]] = {
    STABLE_TOKEN_PATH: (_STABLE_TOKEN_ERRORS, StableTokenError),
    COMPONENT_TOKEN_PATH: (
        {**_COMPONENT_ERRORS, **_by_code(ComponentQuotaExceededError)},
        ComponentError,
    ),
    QUOTA_GET_PATH: (
        {
            **ERRORS_BY_CODE,
            **_by_code(QuotaPathNotFoundError, QuotaPathMalformedError, QuotaNotQueryableError),
        },
        APIError,
    ),
    RID_GET_PATH: (
        {
            **ERRORS_BY_CODE,
            **_by_code(
                RidNotFoundError,
                InvalidRidError,
                RidPermissionDeniedError,
                RidExpiredError,
                RidNotSupportedError,
            ),
        },
        APIError,
    ),
    **dict.fromkeys(
        (
            AUTHORIZER_TOKEN_PATH,
            START_PUSH_TICKET_PATH,
            PREAUTHCODE_PATH,
            QUERY_AUTH_PATH,
            AUTHORIZER_INFO_PATH,
            AUTHORIZER_LIST_PATH,
            COMPONENT_CLEAR_QUOTA_PATH,
            COMPONENT_CLEAR_QUOTA_V2_PATH,
        ),
        (_COMPONENT_ERRORS, ComponentError),
    ),
}


def api_error(errcode: int, errmsg: str, path: Optional[str] = None) -> APIError:
    """The exception for a non-zero errcode of ``path``: its class in the endpoint's own table
    (the common table for most endpoints), or that table's base class for an unknown code."""
    table, fallback = _ENDPOINT_ERRORS.get(path or "", (ERRORS_BY_CODE, APIError))
    return table.get(errcode, fallback)(errcode, errmsg, path)
