"""Access tokens from WeChat's stable_token endpoint: cached, single-flight, shareable.

In normal mode stable_token returns the token that is live (within its last 5 minutes WeChat
issues the next one); ``force_refresh`` rotates at once, the old token working 5 more
minutes, and is rate-limited. So the provider fetches in normal mode, caches the token until
``expires_in`` minus a margin, and forces a refresh only after WeChat refused a token, once
per refused token.

Threads of a process share one fetch. With ``cache=`` (anything with Django's cache API, such
as ``django.core.cache.caches["default"]`` backed by Redis or memcached) processes share the
token and one of them fetches, holding a lock taken with ``cache.add``. The lock expires, so a
crashed holder cannot block the others for longer than ``lock_timeout``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from typing import Any, Callable, Dict, Optional, Protocol

import attr
import requests

from . import _fork
from ._transport import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Timeout, Transport
from .errors import InvalidResponseError, token_error
from .models import as_int

STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
DEFAULT_MARGIN = 300.0  # seconds: WeChat issues the next token in the last 5 minutes
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds a fetching process may hold the shared lock
_POLL = 0.05  # seconds between looks at the shared cache while another process fetches

logger = logging.getLogger("wechat_openapi")


class SharedCache(Protocol):
    """The part of Django's cache API the provider uses (``delete`` is optional)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...

    def add(self, key: str, value: Any, timeout: Any = ...) -> bool: ...


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Held:
    """A token and when to stop using it (Unix time, comparable across processes)."""

    token: str = attr.ib(repr=False)
    use_until: float


class StableTokenProvider:
    """A TokenProvider backed by ``POST /cgi-bin/stable_token``.

    ``margin``: seconds before ``expires_in`` runs out when the token is fetched again (at
    least half its lifetime is used). ``cache``: a Django-style cache shared by processes.
    ``lock_timeout``: how long one process may hold the shared fetch lock. ``base_url``,
    ``timeout``, ``max_retries`` and ``session`` are as for Client. The appid and secret
    appear in no repr, message or log record.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        cache: Optional[SharedCache] = None,
        margin: float = DEFAULT_MARGIN,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        base_url: str = DEFAULT_BASE_URL,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        session: Optional[requests.Session] = None,
        key_prefix: str = "wechat_openapi",
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("appid", appid), ("secret", secret)):
            if not isinstance(value, str) or not value.strip():
                raise TypeError(f"{name} must be a non-empty str")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError("margin must be a number of seconds, 0 or more")
        if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)):
            raise TypeError("lock_timeout must be a number of seconds")
        if lock_timeout < 1:
            raise ValueError("lock_timeout must be at least 1 second")
        self._appid = appid
        self._secret = secret
        self._cache = cache
        self._margin = float(margin)
        self._lock_timeout = int(lock_timeout)
        self._clock = clock
        self._transport = Transport(
            base_url, timeout=timeout, max_retries=max_retries, session=session
        )
        # The cache keys name the account by a hash, so the appid is not written there either.
        account = hashlib.sha256(appid.encode("utf-8")).hexdigest()[:16]
        self._token_key = f"{key_prefix}:stable_token:{account}"
        self._lock_key = f"{self._token_key}:lock"
        self._owner = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._held: Optional[_Held] = None
        self.sleep: Callable[[float], None] = time.sleep  # a seam for tests
        _fork.register(self)

    def get_token(self) -> str:
        """The live token, from memory, the shared cache or WeChat (one fetch at a time)."""
        held = self._held
        if held is not None and self._clock() < held.use_until:
            return held.token
        with self._lock:
            held = self._held
            if held is None or self._clock() >= held.use_until:
                held = self._obtain(refused=None)
            return held.token

    def refresh(self, failed_token: str) -> str:
        """A token to use instead of ``failed_token``: one another caller already got, or a
        forced refresh, made at most once per refused token."""
        with self._lock:
            held = self._held
            if held is not None and held.token != failed_token:
                return held.token  # someone refreshed since failed_token was handed out
            return self._obtain(refused=failed_token).token

    def close(self) -> None:
        """Close the connections this provider opened."""
        self._transport.close()

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        cache = type(self._cache).__name__ if self._cache is not None else None
        return f"<StableTokenProvider appid=<hidden> cache={cache}>"

    def _obtain(self, refused: Optional[str]) -> _Held:
        """Called with the thread lock held: the token to use from now on."""
        held = self._fetch(refused) if self._cache is None else self._via_shared_cache(refused)
        self._held = held
        return held

    def _usable(self, held: _Held, refused: Optional[str]) -> bool:
        return held.token != refused and self._clock() < held.use_until

    def _via_shared_cache(self, refused: Optional[str]) -> _Held:
        """The shared token if it is usable; else fetch under the shared lock, or wait for
        the process that holds it. The wait is bounded by the lock's own expiry."""
        assert self._cache is not None
        give_up_at = time.monotonic() + self._lock_timeout + 2
        while True:
            shared = self._read_shared()
            if shared is not None and self._usable(shared, refused):
                return shared
            if self._cache.add(self._lock_key, self._owner, self._lock_timeout):
                try:
                    shared = self._read_shared()  # stored while we took the lock?
                    if shared is not None and self._usable(shared, refused):
                        return shared
                    held = self._fetch(refused)
                    lifetime = max(1, int(held.use_until - self._clock()))
                    value = {"access_token": held.token, "use_until": held.use_until}
                    self._cache.set(self._token_key, value, lifetime)
                    return held
                finally:
                    self._release_lock()
            if time.monotonic() > give_up_at:
                logger.warning("stable_token: the shared lock was never freed; fetching unshared")
                return self._fetch(refused)
            self.sleep(_POLL)

    def _read_shared(self) -> Optional[_Held]:
        assert self._cache is not None
        value = self._cache.get(self._token_key)
        if not isinstance(value, dict):
            return None
        token, use_until = value.get("access_token"), value.get("use_until")
        if not isinstance(token, str) or not isinstance(use_until, (int, float)):
            return None
        return _Held(token, float(use_until))

    def _release_lock(self) -> None:
        assert self._cache is not None
        delete = getattr(self._cache, "delete", None)
        if delete is not None and self._cache.get(self._lock_key) == self._owner:
            delete(self._lock_key)

    def _fetch(self, refused: Optional[str]) -> _Held:
        """Ask WeChat: normal mode, or force_refresh to replace a refused token (not retried
        blindly: each forced refresh counts against a daily limit)."""
        force = refused is not None
        body: Dict[str, Any] = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
        }
        if force:
            body["force_refresh"] = True
        data = self._transport.post(
            STABLE_TOKEN_PATH,
            json.dumps(body).encode("utf-8"),
            time.monotonic() + self._transport.deadline,
            secrets=(self._secret, self._appid),
            max_retries=0 if force else None,
        )
        if data["errcode"] != 0:
            raise token_error(data["errcode"], data["errmsg"], STABLE_TOKEN_PATH)
        token, expires_in = data.get("access_token"), as_int(data.get("expires_in"))
        if not isinstance(token, str) or not token or expires_in is None or expires_in <= 0:
            raise InvalidResponseError(
                "stable_token answer: 'access_token' or 'expires_in' is missing or unusable",
                STABLE_TOKEN_PATH,
                200,
            )
        use_for = max(expires_in - self._margin, expires_in / 2)
        logger.debug("stable_token: %s token, used for %.0f s", "forced" if force else "a", use_for)
        return _Held(token, self._clock() + use_for)
