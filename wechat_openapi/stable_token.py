"""Access tokens from WeChat's stable_token endpoint: cached, single-flight, shareable.

In normal mode stable_token returns the token that is live (within its last 5 minutes WeChat
issues the next one); ``force_refresh`` rotates at once, the old token working 5 more
minutes, and is rate-limited. So the provider fetches in normal mode, caches the token until
``expires_in`` minus a margin, and forces a refresh only after WeChat refused a token, once
per refused token.

A fetch is part of the call it serves: it goes through that call's transport and counts
against that call's deadline, as does any wait for another thread or process fetching.

Threads of a process share one fetch. With ``cache=`` (anything with Django's cache API, such
as ``django.core.cache.caches["default"]`` backed by Redis or memcached) processes share the
token and one of them fetches, holding a lock taken with ``cache.add``. The lock lasts as long
as the holder's call may (its remaining deadline, plus a second), so a slow holder is never
taken over while alive and a crashed one blocks the others no longer than that. A cache that
fails (Redis down) is logged once and bypassed: the process fetches its own token.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import secrets
import threading
import time
from typing import Any, Callable, Dict, Optional, Protocol

import attr

from . import _fork
from .errors import STABLE_TOKEN_PATH
from .models import StableToken, parsed
from .tokens import CallContext, WaitedFor

DEFAULT_MARGIN = 300.0  # seconds: WeChat issues the next token in the last 5 minutes
_POLL = 0.05  # seconds between looks at the shared cache while another process fetches

logger = logging.getLogger("wechat_openapi")


class SharedCache(Protocol):
    """The part of Django's cache API the provider uses (``delete`` is optional)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...

    def add(self, key: str, value: Any, timeout: Any = ...) -> bool: ...


class _CacheDown(Exception):
    """The shared cache raised; the provider goes on without it for this fetch."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Held:
    """A token and when to stop using it (Unix time, comparable across processes)."""

    token: str = attr.ib(repr=False)
    use_until: float


class StableTokenProvider:
    """A TokenProvider backed by ``POST /cgi-bin/stable_token``.

    ``margin``: seconds before ``expires_in`` runs out when the token is fetched again (at
    least half its lifetime is used). ``cache``: a Django-style cache shared by processes.
    The fetch uses the transport, timeouts and deadline of the call it serves. The appid and
    secret appear in no repr, message or log record.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        cache: Optional[SharedCache] = None,
        margin: float = DEFAULT_MARGIN,
        key_prefix: str = "wechat_openapi",
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("appid", appid), ("secret", secret)):
            if not isinstance(value, str) or not value.strip():
                raise TypeError(f"{name} must be a non-empty str")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError("margin must be a number of seconds, 0 or more")
        self._appid = appid
        self._secret = secret
        self._cache = cache
        self._margin = float(margin)
        self._clock = clock
        # The cache keys name the account by a hash, so the appid is not written there either.
        account = hashlib.sha256(appid.encode("utf-8")).hexdigest()[:16]
        self._token_key = f"{key_prefix}:stable_token:{account}"
        self._lock_key = f"{self._token_key}:lock"
        self._owner = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._held: Optional[_Held] = None
        self._cache_failing = False
        self.sleep: Callable[[float], None] = time.sleep  # a seam for tests
        _fork.register(self)

    def get_token(self, call: CallContext) -> str:
        """The live token, from memory, the shared cache or WeChat (one fetch at a time)."""
        held = self._held
        if held is not None and self._clock() < held.use_until:
            return held.token
        with WaitedFor(self._lock, call, "another thread was fetching the access token"):
            held = self._held
            if held is None or self._clock() >= held.use_until:
                held = self._obtain(None, call)
            return held.token

    def refresh(self, failed_token: str, call: CallContext) -> str:
        """A token to use instead of ``failed_token``: one another caller already got, or a
        forced refresh, made at most once per refused token."""
        with WaitedFor(self._lock, call, "another thread was refreshing the access token"):
            held = self._held
            if held is not None and held.token != failed_token:
                return held.token  # someone refreshed since failed_token was handed out
            return self._obtain(failed_token, call).token

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        cache = type(self._cache).__name__ if self._cache is not None else None
        return f"<StableTokenProvider appid=<hidden> cache={cache}>"

    def _obtain(self, refused: Optional[str], call: CallContext) -> _Held:
        """Called with the thread lock held: the token to use from now on."""
        held: Optional[_Held] = None
        if self._cache is not None:
            try:
                held = self._via_shared_cache(refused, call)
            except _CacheDown:
                held = None
        self._held = held or self._fetch(refused, call)
        return self._held

    def _usable(self, held: _Held, refused: Optional[str]) -> bool:
        return held.token != refused and self._clock() < held.use_until

    def _via_shared_cache(self, refused: Optional[str], call: CallContext) -> _Held:
        """The shared token if it is usable; else fetch under the shared lock, or wait for
        the process that holds it until this call's deadline."""
        while True:
            shared = self._read_shared()
            if shared is not None and self._usable(shared, refused):
                return shared
            lifetime = math.ceil(max(call.remaining(), 0)) + 1  # outlives the holder's call
            if self._ask_cache("add", self._lock_key, self._owner, lifetime):
                try:
                    shared = self._read_shared()  # stored while we took the lock?
                    if shared is not None and self._usable(shared, refused):
                        return shared
                    held = self._fetch(refused, call)
                    self._store(held)
                    return held
                finally:
                    self._release_lock()
            remaining = call.remaining()
            if remaining <= 0:
                raise call.timed_out("another process was fetching the access token")
            self.sleep(min(_POLL, remaining))

    def _ask_cache(self, method: str, *args: Any) -> Any:
        """``cache.<method>(*args)``; a failure is logged once (until the cache answers
        again) and raised as _CacheDown."""
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as error:  # any backend's failure: the token matters more
            if not self._cache_failing:
                self._cache_failing = True
                logger.warning(
                    "stable_token: the shared cache failed (%s: %.200s); each process fetches "
                    "its own token until it answers again",
                    type(error).__name__,
                    error,
                )
            raise _CacheDown() from None
        self._cache_failing = False
        return result

    def _read_shared(self) -> Optional[_Held]:
        value = self._ask_cache("get", self._token_key)
        if not isinstance(value, dict):
            return None
        token, use_until = value.get("access_token"), value.get("use_until")
        if not isinstance(token, str) or not isinstance(use_until, (int, float)):
            return None
        return _Held(token, float(use_until))

    def _store(self, held: _Held) -> None:
        """Share a fetched token; if the cache fails now, this process still has it."""
        lifetime = max(1, int(held.use_until - self._clock()))
        value = {"access_token": held.token, "use_until": held.use_until}
        with contextlib.suppress(_CacheDown):
            self._ask_cache("set", self._token_key, value, lifetime)

    def _release_lock(self) -> None:
        if getattr(self._cache, "delete", None) is None:
            return  # the lock then expires by itself
        try:
            if self._ask_cache("get", self._lock_key) == self._owner:
                self._ask_cache("delete", self._lock_key)
        except _CacheDown:
            pass

    def _fetch(self, refused: Optional[str], call: CallContext) -> _Held:
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
        data = call.post(
            STABLE_TOKEN_PATH, body, secrets=(self._secret, self._appid), retry=not force
        )
        issued = parsed(StableToken.from_response, data, STABLE_TOKEN_PATH)
        use_for = max(issued.expires_in - self._margin, issued.expires_in / 2)
        logger.debug("stable_token: %s token, used for %.0f s", "forced" if force else "a", use_for)
        return _Held(issued.access_token, self._clock() + use_for)
