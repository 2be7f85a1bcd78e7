"""The Client: three WeChat OpenAPI endpoints, one call path.

Each public method checks its arguments, builds the body, and hands it to ``_call``, which
owns the token and the refresh-once rule; the transport below it owns sending, retrying,
reading and the errcode. One Client is meant to be built once (at module level in Django, at
start in a cron script) and shared by every thread; :meth:`Client.with_options` derives a
client per account (or per deadline) that shares its connection pool.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Type, TypeVar, Union
from urllib.parse import urlsplit

import requests

from ._reader import AnswersInHand
from ._settings import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Settings,
    Timeout,
    encodable,
    required_text,
)
from ._transport import Transport
from .errors import QUOTA_GET_PATH, RID_GET_PATH
from .tokens import CallContext, StaticToken, TokenProvider
from .tokens import token_provider as as_token_provider

if TYPE_CHECKING:
    # Imported where used, so that importing and building a Client loads neither attrs (the
    # models load on the first call; the import statement then costs about 0.5 µs a call)
    # nor stable_token.
    from .models import ApiQuota, NicknameAudit, OpenAccount, RidInfo
    from .stable_token import SharedCache

CLEAR_QUOTA_PATH = "/cgi-bin/clear_quota"
CLEAR_QUOTA_V2_PATH = "/cgi-bin/clear_quota/v2"
OPEN_GET_PATH = "/cgi-bin/open/get"
QUERY_NICKNAME_PATH = "/wxa/api_wxa_querynickname"

TokenSource = Union[TokenProvider, Callable[[], Optional[str]]]
_Model = TypeVar("_Model")


def _token_source(access_token: Optional[str], token_provider: Optional[TokenSource]) -> Any:
    if access_token is not None and token_provider is None:
        return StaticToken(access_token)
    if token_provider is not None and access_token is None:
        return as_token_provider(token_provider)
    raise TypeError("give exactly one of access_token='...' or token_provider=callable")


def normalised_cgi_path(cgi_path: object) -> str:
    """``cgi_path`` as WeChat wants it: a path starting with ``/``, no host, no query."""
    if not isinstance(cgi_path, str):
        raise TypeError(f"cgi_path must be a str, got {type(cgi_path).__name__}")
    path = encodable("cgi_path", cgi_path).strip()
    if "://" in path:
        path = urlsplit(path).path
    path = "/" + path.split("?", 1)[0].lstrip("/")
    if path == "/" or any(character.isspace() for character in path):
        raise ValueError(
            f"cgi_path must be an API path such as /cgi-bin/message/custom/send, got {cgi_path!r}"
        )
    return path


class Client:
    """A synchronous, thread-safe client for WeChat's rid, open-account and nickname APIs.

    Give exactly one of ``access_token`` (a fixed token) or ``token_provider`` (a function
    returning the current token, or a :class:`~wechat_openapi.TokenProvider`; after a token
    error it is asked once more and the call is retried once if it yields a different token).

    Options: ``base_url`` (default: ``$WECHAT_OPENAPI_BASE_URL`` if set, read now, else
    ``https://api.weixin.qq.com``); ``timeout`` in seconds, one number or a (connect, read)
    pair, where read bounds each socket read; ``deadline``, the total seconds one method call
    may take, token fetch, retries and slow bodies included; ``max_retries`` for failures that
    may pass (0 disables); ``max_response_bytes``, the largest answer read; ``session``, a
    ``requests.Session`` of yours whose headers, adapters, proxies and certificates are used
    (and which :meth:`close` leaves open); ``user_agent``.
    """

    __slots__ = ("_closed", "_owns_transport", "_settings", "_tokens", "_transport")

    def __init__(
        self,
        *,
        access_token: Optional[str] = None,
        token_provider: Optional[TokenSource] = None,
        base_url: Optional[str] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        session: Optional[requests.Session] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        self._tokens: TokenProvider = _token_source(access_token, token_provider)
        self._settings = Settings.create(
            base_url=base_url,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            max_response_bytes=max_response_bytes,
            user_agent=user_agent,
        )
        self._transport = Transport(self._settings, session)
        self._owns_transport = True
        self._closed = False

    @classmethod
    def from_stable_token(
        cls, appid: str, secret: str, *, cache: Optional[SharedCache] = None, **options: Any
    ) -> Client:
        """A client whose tokens come from stable_token: the one-line setup for cron scripts.

        ``cache`` (a Django-style cache) shares one token between processes; see
        StableTokenProvider. The other options are Client's, and apply to the token fetch too.
        """
        from .stable_token import StableTokenProvider

        return cls(token_provider=StableTokenProvider(appid, secret, cache=cache), **options)

    def with_options(
        self,
        *,
        access_token: Optional[str] = None,
        token_provider: Optional[TokenSource] = None,
        deadline: Optional[float] = None,
        timeout: Optional[Timeout] = None,
        max_retries: Optional[int] = None,
    ) -> Client:
        """A client sharing this one's connection pool, with some options replaced.

        For one authorized account (``access_token`` or ``token_provider``; neither keeps
        this client's token source) or one kind of call (``deadline``, ``timeout``,
        ``max_retries``; None keeps this client's). It costs a token and a pointer, not a
        connection. Closing it is a no-op for the pool; closing the client it came from closes
        the pool for every client derived from it.
        """
        derived = Client.__new__(Client)
        if access_token is None and token_provider is None:
            derived._tokens = self._tokens
        else:
            derived._tokens = _token_source(access_token, token_provider)
        derived._settings = self._settings.override(
            timeout=timeout, deadline=deadline, max_retries=max_retries
        )
        derived._transport = self._transport
        derived._owns_transport = False
        derived._closed = False
        return derived

    def get_rid_info(self, rid: str) -> RidInfo:
        """Look up what WeChat recorded for the call that returned ``rid`` (last 7 days)."""
        if not isinstance(rid, str):
            raise TypeError(f"rid must be a str, got {type(rid).__name__}")
        if not rid.strip():
            raise ValueError("rid must not be empty or blank")
        body = {"rid": encodable("rid", rid).strip()}
        from .models import RidInfo

        return self._call(RID_GET_PATH, body, RidInfo.from_response)

    def get_open_account(self, appid: Optional[str] = None) -> OpenAccount:
        """The open-platform account bound to this token's account (or to ``appid``, which
        must then be the token's own appid)."""
        if appid is not None and not isinstance(appid, str):
            raise TypeError(f"appid must be a str or None, got {type(appid).__name__}")
        if appid is not None and not appid.strip():
            raise ValueError("appid must not be empty or blank; pass None to use the token's own")
        body = {} if appid is None else {"appid": encodable("appid", appid).strip()}
        from .models import OpenAccount

        return self._call(OPEN_GET_PATH, body, OpenAccount.from_response)

    def query_nickname_status(self, audit_id: int) -> NicknameAudit:
        """The state of the nickname change audit ``audit_id`` (returned by the set-name API)."""
        if isinstance(audit_id, bool) or not isinstance(audit_id, int):
            raise TypeError(f"audit_id must be an int, got {type(audit_id).__name__}")
        if audit_id <= 0:
            raise ValueError(f"audit_id must be a positive int, got {audit_id}")
        body = {"audit_id": audit_id}
        from .models import NicknameAudit

        return self._call(QUERY_NICKNAME_PATH, body, NicknameAudit.from_response)

    def get_api_quota(self, cgi_path: str) -> ApiQuota:
        """Today's quota of the API at ``cgi_path`` (such as ``/cgi-bin/message/custom/send``;
        a full URL or a path without its leading ``/`` is taken too) for this token's account."""
        body = {"cgi_path": normalised_cgi_path(cgi_path)}
        from .models import ApiQuota

        return self._call(QUOTA_GET_PATH, body, ApiQuota.from_response)

    def clear_quota(self, appid: Optional[str] = None) -> None:
        """Reset every API quota of ``appid``'s account (default: the account of the token
        source, when it knows one). WeChat allows 10 resets a month; this call is never
        retried, so one call spends at most one."""
        if appid is None:
            appid = getattr(self._tokens, "appid", None)
            if not isinstance(appid, str):
                raise ValueError("pass appid: this client's token source does not name its account")
        if not isinstance(appid, str):
            raise TypeError(f"appid must be a str, got {type(appid).__name__}")
        if not appid.strip():
            raise ValueError("appid must not be empty or blank")
        body = {"appid": encodable("appid", appid).strip()}
        self._context().post_with_token(self._tokens, CLEAR_QUOTA_PATH, body, retry=False)

    @classmethod
    def clear_quota_by_app_secret(cls, appid: str, secret: str, **options: Any) -> None:
        """Reset every API quota of ``appid``'s account with its AppSecret and no token: the
        way out when even the token endpoint's quota is used up (``clear_quota/v2``). Shares
        the 10 resets a month; never retried. ``options`` are Client's (``base_url``,
        ``timeout``, ``deadline``, ``session``); the appid and secret appear in no message."""
        required_text("appid", appid)
        required_text("secret", secret)
        with cls(token_provider=lambda: "unused", **options) as client:
            pairs = (("appid", appid), ("appsecret", secret))
            client._context().post(
                CLEAR_QUOTA_V2_PATH, dict(pairs), query=pairs, secrets=(secret, appid), retry=False
            )

    def _call(
        self, path: str, body: Dict[str, Any], build: Callable[[Mapping[str, Any]], _Model]
    ) -> _Model:
        """POST ``body`` to ``path`` and build the result; the deadline covers it all, the
        token's fetch included. A refused token is retried once, and only with a new one."""
        call = self._context()
        with AnswersInHand():  # their connections go back once the model is built
            data = call.post_with_token(self._tokens, path, body)
            return call.parsed(build, data, path)

    def _context(self) -> CallContext:
        """A new call's context: this client's transport and settings, its deadline from now."""
        if self._closed or self._transport.closed:
            raise RuntimeError("this Client, or the client it was derived from, is closed")
        settings = self._settings
        return CallContext(self._transport, settings, time.monotonic() + settings.deadline)

    def close(self) -> None:
        """Refuse further calls on this client. On the client built with ``Client(...)``, also
        release the pooled connections (unless the session was passed in): every client
        derived from it then refuses calls too. Idempotent."""
        if not self._closed:
            self._closed = True
            if self._owns_transport:
                self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._settings.base_url} token={self._tokens!r}>"
