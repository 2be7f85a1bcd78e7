"""What the platform's account endpoints answer, as frozen attrs classes named after WeChat's
fields (the token models are in :mod:`wechat_openapi.models`).

As there, ``from_response`` ignores unknown keys, converts types, and raises
:class:`~wechat_openapi.errors.InvalidResponseError` for a field it needs that is missing or
unusable. Refresh tokens and access tokens are hidden from every repr.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Tuple

import attr

from .._fields import _quoted
from ..models import _bad, _get, _int, _issued, _str, _time


def _object(data: Mapping[str, Any], model: str, name: str) -> Mapping[str, Any]:
    value = _get(data, model, name)
    if not isinstance(value, Mapping):
        raise _bad(model, name, f"is not an object: {_quoted(value)}")
    return value


def _func_info(data: Mapping[str, Any], model: str) -> Tuple[int, ...]:
    """The permission-set ids of ``func_info``: ``[{"funcscope_category": {"id": 1}}, ...]``."""
    entries = data.get("func_info", [])
    if not isinstance(entries, list):
        raise _bad(model, "func_info", f"is not a list: {_quoted(entries)}")
    ids = []
    for entry in entries:
        category = entry.get("funcscope_category") if isinstance(entry, Mapping) else None
        if not isinstance(category, Mapping):
            raise _bad(
                model, "func_info", f"has an entry without funcscope_category: {_quoted(entry)}"
            )
        ids.append(_int(category, model, "id"))
    return tuple(ids)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Authorization:
    """An account's authorization of the platform, from ``api_query_auth``.

    ``func_info`` holds the ids of the permission sets the account granted. An account that
    granted none gets no tokens from WeChat: then ``has_tokens`` is False, nothing was saved
    and no token was seeded, and calls for the account cannot be made.
    """

    authorizer_appid: str
    func_info: Tuple[int, ...]
    authorizer_access_token: Optional[str] = attr.ib(repr=False, default=None)
    expires_in: Optional[int] = None
    authorizer_refresh_token: Optional[str] = attr.ib(repr=False, default=None)

    @property
    def has_tokens(self) -> bool:
        """Whether WeChat issued tokens (it does once at least one permission set is granted)."""
        return self.authorizer_refresh_token is not None

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> Authorization:
        """Build from an api_query_auth answer."""
        name = "Authorization"
        info = _object(data, name, "authorization_info")
        appid = _str(info, name, "authorizer_appid")
        if not appid:
            raise _bad(name, "authorizer_appid", "is empty")
        func_info = _func_info(info, name)
        if not _str(info, name, "authorizer_refresh_token", ""):
            return cls(appid, func_info)
        token, expires_in = _issued(info, name, "authorizer_access_token")
        return cls(appid, func_info, token, expires_in, info["authorizer_refresh_token"])


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AuthorizerInfo:
    """An authorized account's profile and grant, from ``api_get_authorizer_info``.

    ``service_type`` and ``verify_type`` are WeChat's ids (``service_type_info.id``,
    ``verify_type_info.id``); ``mini_program_info`` is the ``MiniProgramInfo`` object as sent,
    present for a Mini Program only; ``business_info`` likewise.
    """

    authorizer_appid: str
    nick_name: str
    head_img: str
    user_name: str
    principal_name: str
    alias: str
    qrcode_url: str
    service_type: Optional[int]
    verify_type: Optional[int]
    func_info: Tuple[int, ...]
    business_info: Dict[str, Any] = attr.ib(factory=dict)
    mini_program_info: Optional[Dict[str, Any]] = None
    authorizer_refresh_token: Optional[str] = attr.ib(repr=False, default=None)

    @property
    def is_mini_program(self) -> bool:
        return self.mini_program_info is not None

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> AuthorizerInfo:
        """Build from an api_get_authorizer_info answer."""
        name = "AuthorizerInfo"
        profile = _object(data, name, "authorizer_info")
        grant = _object(data, name, "authorization_info")
        mini = profile.get("MiniProgramInfo")
        if mini is not None and not isinstance(mini, Mapping):
            raise _bad(name, "MiniProgramInfo", f"is not an object: {_quoted(mini)}")
        business = profile.get("business_info", {})
        if not isinstance(business, Mapping):
            raise _bad(name, "business_info", f"is not an object: {_quoted(business)}")
        return cls(
            authorizer_appid=_str(grant, name, "authorizer_appid"),
            nick_name=_str(profile, name, "nick_name", ""),
            head_img=_str(profile, name, "head_img", ""),
            user_name=_str(profile, name, "user_name", ""),
            principal_name=_str(profile, name, "principal_name", ""),
            alias=_str(profile, name, "alias", ""),
            qrcode_url=_str(profile, name, "qrcode_url", ""),
            service_type=_type_id(profile, name, "service_type_info"),
            verify_type=_type_id(profile, name, "verify_type_info"),
            func_info=_func_info(grant, name),
            business_info=dict(business),
            mini_program_info=None if mini is None else dict(mini),
            authorizer_refresh_token=_str(grant, name, "authorizer_refresh_token", "") or None,
        )


def _type_id(data: Mapping[str, Any], model: str, name: str) -> Optional[int]:
    """``data[name]["id"]``, or None when WeChat sent no such object."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(model, name, f"is not an object: {_quoted(value)}")
    return _int(value, model, "id") if "id" in value else None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AuthorizerListing:
    """One entry of ``api_get_authorizer_list``: an account that authorized the platform, its
    current refresh token, and when it authorized."""

    authorizer_appid: str
    refresh_token: str = attr.ib(repr=False)
    auth_time: datetime

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> AuthorizerListing:
        """Build from one entry of the answer's ``list``."""
        name = "AuthorizerListing"
        appid = _str(data, name, "authorizer_appid")
        refresh_token = _str(data, name, "refresh_token")
        if not appid or not refresh_token:
            raise _bad(name, "authorizer_appid" if not appid else "refresh_token", "is empty")
        return cls(appid, refresh_token, _time(data, name, "auth_time"))
