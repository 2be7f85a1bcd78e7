"""Where the Client gets its access token, and how it gets a new one after a token error.

A token source has two methods: ``get_token()`` for each call, and ``refresh(failed_token)``
after WeChat refused ``failed_token``; ``refresh`` returns the token to retry with, or None
when there is nothing better to try. The Client retries at most once per call.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, Protocol, Tuple

from . import _fork


class TokenProvider(Protocol):
    """What the Client needs from anything that supplies tokens.

    ``get_token()`` is asked before each call. ``refresh(failed_token)`` is asked once after
    WeChat refused ``failed_token``: it returns the token to retry with, fetching a new one
    only if ``failed_token`` is still the one it holds (if another caller already refreshed,
    it returns that newer token). Returning ``failed_token`` itself means there is nothing
    better, and the error is raised.
    """

    def get_token(self) -> str:
        """The token to use for the next call."""

    def refresh(self, failed_token: str) -> str:
        """The token to retry with after WeChat refused ``failed_token``."""


def _checked(token: object, source: str) -> str:
    if not isinstance(token, str) or not token.strip():
        raise TypeError(f"{source} must be a non-empty str, got {type(token).__name__}")
    return token


class StaticToken:
    """A fixed token: a refused token cannot be replaced, so the error surfaces at once."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = _checked(token, "access_token")

    def get_token(self) -> str:
        return self._token

    def refresh(self, failed_token: str) -> str:
        return failed_token  # a fixed token has nothing better to offer

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class CallableToken:
    """A user function that returns the current token (from a cache, a vault, a service).

    After a token error the function is asked again, once for all threads that failed with
    the same token: the first to refresh asks, and records which token it replaced and with
    what; the others, finding their failed token already replaced, take the replacement
    without asking (no refresh storm). The call is retried once if the token changed.
    """

    __slots__ = ("__weakref__", "_last_refresh", "_lock", "_provider")

    def __init__(self, provider: Callable[[], str]) -> None:
        self._provider = provider
        self._lock = threading.Lock()
        # (the failed token the last refresh replaced, the token it got in its place)
        self._last_refresh: Optional[Tuple[str, str]] = None
        _fork.register(self)

    def get_token(self) -> str:
        return _checked(self._provider(), "the token_provider's result")

    def refresh(self, failed_token: str) -> str:
        with self._lock:
            if self._last_refresh is None or self._last_refresh[0] != failed_token:
                self._last_refresh = (failed_token, self.get_token())
            return self._last_refresh[1]

    def after_fork_in_child(self) -> None:
        """Replace the lock: in a forked child, another thread of the parent may hold it."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CallableToken({getattr(self._provider, '__qualname__', 'provider')})"


def token_provider(source: object) -> TokenProvider:
    """``source`` as a TokenProvider: used as it is if it has get_token and refresh, wrapped
    in a CallableToken if it is a plain function."""
    if callable(getattr(source, "get_token", None)) and callable(getattr(source, "refresh", None)):
        return source  # type: ignore[return-value]
    if callable(source):
        return CallableToken(source)
    raise TypeError("token_provider must be a TokenProvider or a function returning a str")
