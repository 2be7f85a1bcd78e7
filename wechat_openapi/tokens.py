"""Where the Client gets its access token, and how it gets a new one after a token error.

A token source has two methods, each given the :class:`CallContext` of the call it serves:
``get_token(call)`` before the call, and ``refresh(failed_token, call)`` after WeChat refused
``failed_token``. A source that fetches tokens does so through ``call.post``: the calling
client's pool, headers and proxies, within that call's deadline. The Client retries at most
once per call.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Tuple, TypeVar

from . import _fork
from ._fields import parsed
from ._redact import _IN_FLIGHT, next_key
from ._settings import Settings, encodable
from ._transport import Transport
from .errors import AccessTokenError, RequestTimeoutError, TokenUnavailableError

_Model = TypeVar("_Model")


class CallContext:
    """What a token source is given for one call: the way to WeChat, the time left, and the
    secrets the call has carried so far."""

    __slots__ = ("_transport", "expires_at", "secrets", "settings", "token")

    def __init__(self, transport: Transport, settings: Settings, expires_at: float) -> None:
        self._transport = transport
        self.settings = settings
        self.expires_at = expires_at  # a time.monotonic() value: the call's deadline
        self.token = ""  # the token post_with_token last sent, for masking what comes back
        # Every secret the call has sent or been issued: tokens, AppSecrets, tickets,
        # refresh tokens. Any answer of the call may quote any of them, so every error and
        # log record of the call masks them all.
        self.secrets: Tuple[str, ...] = ()

    def remaining(self) -> float:
        """Seconds left before the call's deadline (negative once it has passed)."""
        return self.expires_at - time.monotonic()

    def keep_secret(self, *secrets: str) -> None:
        """Count ``secrets`` among the call's: masked in every message and log record of
        the call from now on."""
        known = self.secrets
        for secret in secrets:
            if secret and secret not in known:
                known = (*known, secret)
        self.secrets = known

    def post(
        self,
        path: str,
        body: Dict[str, Any],
        *,
        query: Tuple[Tuple[str, str], ...] = (),
        secrets: Tuple[str, ...] = (),
        retry: bool = True,
    ) -> Dict[str, Any]:
        """POST ``body`` to ``path`` (with ``query`` pairs) without an access token, on the
        call's transport and within its deadline; ``secrets`` join the call's, all masked
        in every message. Raises as a call does."""
        self.keep_secret(*secrets)
        return self._sent(path, body, query=query, retry=retry)

    def post_with_token(
        self,
        tokens: TokenProvider,
        path: str,
        body: Dict[str, Any],
        *,
        token_name: str = "access_token",
        secrets: Tuple[str, ...] = (),
        retry: bool = True,
    ) -> Dict[str, Any]:
        """POST with a token from ``tokens`` in the query parameter ``token_name``; a refused
        token (40001, 40014, 42001) is retried once, and only with a different one. Other
        failures are retried as ``post`` does, unless ``retry`` is false."""
        token = checked(tokens.get_token(self), tokens)
        for attempt in range(2):  # the call, then at most one retry with a refreshed token
            self.token = token
            known = self.secrets
            if token not in known:  # the common case, a token seen before, costs one test
                self.secrets = (*known, token)
            if secrets:
                self.keep_secret(*secrets)
            try:
                return self._sent(path, body, token=token, token_name=token_name, retry=retry)
            except AccessTokenError:
                if attempt:
                    raise
                fresh = checked(tokens.refresh(token, self), tokens)
                if fresh == token:
                    raise
                token = fresh
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _sent(self, path: str, body: Dict[str, Any], **options: Any) -> Dict[str, Any]:
        """The transport's call with this call's settings, deadline and secrets; the call is
        registered in flight meanwhile, for the log filter to mask its secrets."""
        key = next_key()
        _IN_FLIGHT[key] = self
        try:
            return self._transport.call(
                path, body, self.settings, self.expires_at, secrets=self.secrets, **options
            )
        finally:
            _IN_FLIGHT.pop(key, None)

    def parsed(self, build: Callable[[Mapping[str, Any]], _Model], data: Any, path: str) -> _Model:
        """``build(data)`` for an answer of this call; an error about it masks every secret
        of the call (and, for a token endpoint's answer, every string in it)."""
        return parsed(build, data, path, self.secrets)

    def timed_out(self, what: str) -> RequestTimeoutError:
        """The error for a call whose deadline passed while ``what``."""
        return RequestTimeoutError.deadline_passed(self.settings.deadline, f"while {what}")


class WaitedFor:
    """``with WaitedFor(lock, call, what):`` holds ``lock``, waiting for it no longer than the
    call's deadline; past that, raises RequestTimeoutError saying the wait was for ``what``."""

    __slots__ = ("_call", "_lock", "_what")

    def __init__(self, lock: threading.Lock, call: CallContext, what: str) -> None:
        self._lock = lock
        self._call = call
        self._what = what

    def __enter__(self) -> None:
        if not self._lock.acquire(timeout=max(self._call.remaining(), 0)):
            raise self._call.timed_out(self._what)

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class TokenProvider(Protocol):
    """What the Client needs from anything that supplies tokens.

    ``get_token(call)`` is asked before each call. ``refresh(failed_token, call)`` is asked
    once after WeChat refused ``failed_token``: it returns the token to retry with, fetching a
    new one only if ``failed_token`` is still the one it holds (if another caller already
    refreshed, it returns that newer token). Returning ``failed_token`` itself means there is
    nothing better, and the error is raised. Both may give up with ``call.timed_out(...)``
    once ``call.remaining()`` runs out.
    """

    def get_token(self, call: CallContext) -> str:
        """The token to use for the next call."""

    def refresh(self, failed_token: str, call: CallContext) -> str:
        """The token to retry with after WeChat refused ``failed_token``."""


def checked(token: object, source: object) -> str:
    """``token`` if it is one; else TokenUnavailableError saying which source (a description,
    or the provider object) gave what."""
    if isinstance(token, str) and token.strip():
        return token
    if not isinstance(source, str):
        source = f"the token provider {source!r}"
    if token is None:
        got = "None"
    elif isinstance(token, str):
        got = "a blank str" if token else "an empty str"
    else:
        got = f"a {type(token).__name__}, not a str"
    raise TokenUnavailableError(f"no access token: {source} returned {got}; nothing was sent")


class StaticToken:
    """A fixed token: a refused token cannot be replaced, so the error surfaces at once."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not isinstance(token, str):
            raise TypeError(f"access_token must be a str, got {type(token).__name__}")
        if not token.strip():
            raise ValueError("access_token must not be empty or blank")
        self._token = encodable("access_token", token)

    def get_token(self, call: CallContext) -> str:
        return self._token

    def refresh(self, failed_token: str, call: CallContext) -> str:
        return failed_token  # a fixed token has nothing better to offer

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class CallableToken:
    """A user function that returns the current token (from a cache, a vault, a service).

    After a token error the function is asked again, once for all threads that failed with
    the same token: the first to refresh asks, and records which token it replaced and with
    what; the others, finding their failed token already replaced, take the replacement
    without asking (no refresh storm). They wait for it no longer than their own deadline.
    An exception the function raises is the user's own, and propagates as it is.
    """

    __slots__ = ("__weakref__", "_last_refresh", "_lock", "_provider")

    def __init__(self, provider: Callable[[], str]) -> None:
        self._provider = provider
        self._lock = threading.Lock()
        # (the failed token the last refresh replaced, the token it got in its place)
        self._last_refresh: Optional[Tuple[str, str]] = None
        _fork.register(self)

    def get_token(self, call: CallContext) -> str:
        return checked(self._provider(), f"the token_provider {self._name()}")

    def refresh(self, failed_token: str, call: CallContext) -> str:
        with WaitedFor(self._lock, call, "another thread asked the token_provider for a token"):
            if self._last_refresh is None or self._last_refresh[0] != failed_token:
                self._last_refresh = (failed_token, self.get_token(call))
            return self._last_refresh[1]

    def after_fork_in_child(self) -> None:
        """Replace the lock: in a forked child, another thread of the parent may hold it."""
        self._lock = threading.Lock()

    def _name(self) -> str:
        return getattr(self._provider, "__qualname__", type(self._provider).__name__)

    def __repr__(self) -> str:
        return f"CallableToken({self._name()})"


def token_provider(source: object) -> TokenProvider:
    """``source`` as a TokenProvider: used as it is if it has get_token and refresh, wrapped
    in a CallableToken if it is a plain function."""
    if callable(getattr(source, "get_token", None)) and callable(getattr(source, "refresh", None)):
        return source  # type: ignore[return-value]
    if callable(source):
        return CallableToken(source)
    raise TypeError("token_provider must be a TokenProvider or a function returning a str")
