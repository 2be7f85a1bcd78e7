"""Typed results of the three endpoints, named as in WeChat's documents.

Each model is a frozen attrs class built by ``from_response(data)``, which ignores fields it
does not know, converts types (Unix times become aware UTC datetimes) and raises
:class:`~wechat_openapi.errors.InvalidResponseError` when a field it needs is missing or is
not of a usable type. A bad answer never becomes a wrong value or a ``KeyError``.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Union

import attr

from ._fields import _quoted, as_int
from ._fields import parsed as parsed  # kept importable from here, where it was
from ._redact import redact_query_token
from .errors import InvalidResponseError

_MISSING = object()


class AuditStatus(enum.IntEnum):
    """The documented values of ``audit_stat``."""

    PENDING = 1
    REJECTED = 2
    APPROVED = 3


def _bad(model: str, name: str, problem: str) -> InvalidResponseError:
    """The error for an unusable field; the Client adds the endpoint's path as it passes."""
    return InvalidResponseError(f"{model} answer: field {name!r} {problem}", status_code=200)


def _get(data: Mapping[str, Any], model: str, name: str, default: Any = _MISSING) -> Any:
    value = data.get(name, default)
    if value is _MISSING:
        raise _bad(model, name, "is missing")
    return value


def _int(data: Mapping[str, Any], model: str, name: str, default: Any = _MISSING) -> int:
    value = _get(data, model, name, default)
    number = as_int(value)
    if number is None:
        raise _bad(model, name, f"is not an integer: {_quoted(value)}")
    return number


def _str(data: Mapping[str, Any], model: str, name: str, default: Any = _MISSING) -> str:
    value = _get(data, model, name, default)
    if not isinstance(value, str):
        raise _bad(model, name, f"is not a string: {_quoted(value)}")
    return value


def _time(data: Mapping[str, Any], model: str, name: str, default: Any = _MISSING) -> datetime:
    """A Unix timestamp in seconds, as an aware UTC datetime."""
    seconds = _int(data, model, name, default)
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _bad(model, name, f"is not a usable timestamp: {_quoted(seconds)}") from None


def _masked_repr(url: str) -> str:
    return repr(redact_query_token(url))


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RidInfo:
    """What WeChat recorded about one earlier call, found by its rid (``rid/get``).

    ``request_url`` is the original call's query string and can hold that call's
    access_token; ``repr`` masks it, the attribute itself is left as WeChat sent it.
    """

    invoke_time: datetime
    cost_in_ms: int
    request_url: str = attr.ib(repr=_masked_repr)
    request_body: str
    response_body: str
    client_ip: str

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> RidInfo:
        """Build from a rid/get answer, nested (``request: {...}``, as documented) or flat."""
        record = data.get("request", data)
        if not isinstance(record, Mapping):
            raise _bad("RidInfo", "request", "is not an object")
        name = "RidInfo"
        return cls(
            invoke_time=_time(record, name, "invoke_time"),
            cost_in_ms=_int(record, name, "cost_in_ms"),
            request_url=_str(record, name, "request_url", ""),
            request_body=_str(record, name, "request_body", ""),
            response_body=_str(record, name, "response_body", ""),
            client_ip=_str(record, name, "client_ip", ""),
        )

    def request_json(self) -> Any:
        """``request_body`` decoded as JSON, or None when it is not JSON."""
        return _json_or_none(self.request_body)

    def response_json(self) -> Any:
        """``response_body`` decoded as JSON, or None when it is not JSON."""
        return _json_or_none(self.response_body)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OpenAccount:
    """The open-platform account an Official Account or Mini Program is bound to."""

    open_appid: str

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> OpenAccount:
        """Build from an open/get answer."""
        open_appid = _str(data, "OpenAccount", "open_appid")
        if not open_appid:
            raise _bad("OpenAccount", "open_appid", "is empty")
        return cls(open_appid=open_appid)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class NicknameAudit:
    """The state of a Mini Program nickname change audit.

    ``audit_stat`` is an :class:`AuditStatus` for documented values and a plain int for any
    value WeChat adds later; ``audit_time`` is None until the audit has completed.
    """

    nickname: str
    audit_stat: Union[AuditStatus, int]
    fail_reason: str
    create_time: datetime
    audit_time: Optional[datetime]

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> NicknameAudit:
        """Build from an api_wxa_querynickname answer."""
        name = "NicknameAudit"
        stat = _int(data, name, "audit_stat")
        audit_time = _int(data, name, "audit_time", 0)
        return cls(
            nickname=_str(data, name, "nickname"),
            audit_stat=AuditStatus(stat) if stat in _AUDIT_VALUES else stat,
            fail_reason=_str(data, name, "fail_reason", ""),
            create_time=_time(data, name, "create_time"),
            audit_time=_time(data, name, "audit_time") if audit_time else None,
        )


_AUDIT_VALUES = frozenset(status.value for status in AuditStatus)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class StableToken:
    """An access token issued by ``/cgi-bin/stable_token``, valid for ``expires_in`` seconds."""

    access_token: str = attr.ib(repr=False)
    expires_in: int

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> StableToken:
        """Build from a stable_token answer."""
        return cls(*_issued(data, "StableToken", "access_token"))


# WeChat's tokens live 7,200 s: a week is room for any change, and keeps the expiry
# arithmetic (a float of it, a margin taken off it) within what floats hold.
MAX_EXPIRES_IN = 7 * 24 * 3600


def _issued(data: Mapping[str, Any], model: str, token_field: str) -> Any:
    """The token and the positive ``expires_in`` of a token endpoint's answer."""
    token = _str(data, model, token_field)
    expires_in = _int(data, model, "expires_in")
    if not token:
        raise _bad(model, token_field, "is empty")
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        problem = f"is not between 1 and {MAX_EXPIRES_IN} seconds: {_quoted(expires_in)}"
        raise _bad(model, "expires_in", problem)
    return token, expires_in


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ComponentToken:
    """A third-party platform's token from ``api_component_token``."""

    component_access_token: str = attr.ib(repr=False)
    expires_in: int

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> ComponentToken:
        """Build from an api_component_token answer."""
        return cls(*_issued(data, "ComponentToken", "component_access_token"))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AuthorizerToken:
    """An authorized account's token from ``api_authorizer_token``, and the refresh token
    WeChat returned with it (None if it sent none): the one to save for next time."""

    authorizer_access_token: str = attr.ib(repr=False)
    expires_in: int
    authorizer_refresh_token: Optional[str] = attr.ib(repr=False)

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> AuthorizerToken:
        """Build from an api_authorizer_token answer."""
        name = "AuthorizerToken"
        token, expires_in = _issued(data, name, "authorizer_access_token")
        refresh = _str(data, name, "authorizer_refresh_token", "") or None
        return cls(token, expires_in, refresh)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RateLimit:
    """At most ``call_count`` calls every ``refresh_second`` seconds."""

    call_count: int
    refresh_second: int

    @classmethod
    def from_response(cls, data: Mapping[str, Any], model: str = "RateLimit") -> RateLimit:
        """Build from a ``rate_limit`` or ``component_rate_limit`` object."""
        return cls(_int(data, model, "call_count"), _int(data, model, "refresh_second"))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ApiQuota:
    """One API's daily quota for this account (``openapi/quota/get``), and its rate limits
    where WeChat sends them."""

    daily_limit: int
    used: int
    remain: int
    rate_limit: Optional[RateLimit] = None
    component_rate_limit: Optional[RateLimit] = None

    @classmethod
    def from_response(cls, data: Mapping[str, Any]) -> ApiQuota:
        """Build from a quota/get answer."""
        name = "ApiQuota"
        quota = _get(data, name, "quota")
        if not isinstance(quota, Mapping):
            raise _bad(name, "quota", f"is not an object: {_quoted(quota)}")
        limits = []
        for field in ("rate_limit", "component_rate_limit"):
            value = data.get(field)
            if value is not None and not isinstance(value, Mapping):
                raise _bad(name, field, f"is not an object: {_quoted(value)}")
            limits.append(None if value is None else RateLimit.from_response(value, name))
        return cls(
            daily_limit=_int(quota, name, "daily_limit"),
            used=_int(quota, name, "used"),
            remain=_int(quota, name, "remain"),
            rate_limit=limits[0],
            component_rate_limit=limits[1],
        )
