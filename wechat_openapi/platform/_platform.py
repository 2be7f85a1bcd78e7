"""ComponentPlatform: a third-party platform acting for the accounts that authorized it."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Callable, Dict, Optional, Type

from .. import _fork
from .._settings import required_text
from .._shared_cache import DEFAULT_MARGIN, CacheGuard, SharedCache, account_key
from ..client import Client
from ..errors import START_PUSH_TICKET_PATH
from ._store import RefreshTokenStore
from ._tokens import _AuthorizerToken, _ComponentToken, _VerifyTickets


class ComponentPlatform:
    """A third-party platform (服务商) acting for the accounts that authorized it.

    ``refresh_tokens`` stores each account's refresh token (see :class:`RefreshTokenStore`);
    ``cache`` (Django's cache API) shares the ticket and every token between processes;
    ``margin`` is as for StableTokenProvider; the other options are Client's and apply to
    every call, token fetches included. The secret, tickets and tokens appear in no str,
    repr, log record or error message; cache keys carry a hash of each appid.
    """

    def __init__(
        self,
        component_appid: str,
        component_secret: str,
        *,
        refresh_tokens: RefreshTokenStore,
        cache: Optional[SharedCache] = None,
        margin: float = DEFAULT_MARGIN,
        key_prefix: str = "wechat_openapi",
        clock: Callable[[], float] = time.time,
        **client_options: Any,
    ) -> None:
        required_text("component_appid", component_appid)
        required_text("component_secret", component_secret)
        if not all(callable(getattr(refresh_tokens, m, None)) for m in ("load", "save")):
            raise TypeError("refresh_tokens must have load(appid) and save(appid, token)")
        self._appid = component_appid
        self._secret = component_secret
        self._refresh_tokens = refresh_tokens
        self._cache = cache
        self._key_prefix = key_prefix
        self._shared: Dict[str, Any] = {"cache": cache, "margin": margin, "clock": clock}
        self._tickets = _VerifyTickets(
            CacheGuard(cache, "component_verify_ticket"),
            account_key(key_prefix, "component_ticket", component_appid),
            clock,
        )
        self._component_token = _ComponentToken(
            self, key=account_key(key_prefix, "component_token", component_appid), **self._shared
        )
        self._client = Client(token_provider=self._component_token, **client_options)
        self._authorizers: Dict[str, _AuthorizerToken] = {}
        self._authorizers_lock = threading.Lock()
        _fork.register(self)

    def set_verify_ticket(self, ticket: str) -> None:
        """Keep ``ticket`` (from the callback URL's decrypted push) for 12 hours; the newest
        wins. Call it from the view that receives WeChat's pushes."""
        if not isinstance(ticket, str) or not ticket.strip():
            raise ValueError("ticket must be a non-empty str")
        self._tickets.set(ticket.strip())

    def start_push_ticket(self) -> None:
        """Ask WeChat to resume pushing tickets to the callback URL (api_start_push_ticket)."""
        body = {"component_appid": self._appid, "component_secret": self._secret}
        self._client._context().post(START_PUSH_TICKET_PATH, body, secrets=(self._secret,))

    def client(self, authorizer_appid: str) -> Client:
        """A client for one authorized account, on the platform's connection pool. Its token
        is fetched when a call first needs it. Cheap enough to make on every request."""
        return self._client.with_options(token_provider=self._authorizer(authorizer_appid))

    def component_client(self) -> Client:
        """A client using the component token itself, for the platform's own calls (such as
        rid lookups of its component API calls)."""
        return self._client.with_options()

    def close(self) -> None:
        """Close the connection pool; every client this platform made then refuses calls."""
        self._client.close()

    def __enter__(self) -> ComponentPlatform:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        cache = type(self._cache).__name__ if self._cache is not None else None
        return f"<ComponentPlatform component_appid=<hidden> cache={cache}>"

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._authorizers_lock = threading.Lock()

    def _authorizer(self, appid: str) -> _AuthorizerToken:
        tokens = self._authorizers.get(appid)
        if tokens is not None:
            return tokens
        if not isinstance(appid, str) or not appid.strip():
            raise ValueError("authorizer_appid must be a non-empty str")
        with self._authorizers_lock:
            tokens = self._authorizers.get(appid)
            if tokens is None:
                key = account_key(self._key_prefix, "authorizer_token", appid)
                tokens = _AuthorizerToken(self, appid, key=key, **self._shared)
                self._authorizers[appid] = tokens
            return tokens
