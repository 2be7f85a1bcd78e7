"""Tokens shared by the threads of a process and, through a cache, by processes.

A :class:`SharedToken` is one token (an access token, a component token, one account's
authorizer token) kept in memory and, with ``cache=`` (anything with Django's cache API, such
as ``django.core.cache.caches["default"]`` backed by Redis or memcached), in a cache every
process reads. Subclasses say only how to fetch it.

Threads of a process share one fetch, and processes share one through a lock taken with
``cache.add``. A fetch is part of the call it serves: it goes through that call's transport and
counts against that call's deadline, as does any wait for another thread or process. The lock
lasts as long as the holder's call may (its remaining deadline, plus a second), so a slow holder
is never taken over while alive and a crashed one blocks the others no longer than that. A
token is used until ``expires_in`` minus a margin (at least half its life), and fetched anew
before that only when WeChat refused that exact token, once per refused token. A cache that
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
from typing import Any, Callable, Optional, Protocol, Tuple

import attr

from . import _fork
from .tokens import CallContext, WaitedFor

DEFAULT_MARGIN = 300.0  # seconds: WeChat issues the next token in the last 5 minutes
_POLL = 0.05  # seconds between looks at the shared cache while another process fetches

logger = logging.getLogger("wechat_openapi")


class SharedCache(Protocol):
    """The part of Django's cache API the library uses (``delete`` is optional)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...

    def add(self, key: str, value: Any, timeout: Any = ...) -> bool: ...


class CacheDown(Exception):
    """The shared cache raised; the caller goes on without it."""


def account_hash(appid: str) -> str:
    """A short hash naming an account in cache keys and log records, instead of its appid."""
    return hashlib.sha256(appid.encode("utf-8")).hexdigest()[:16]


def account_key(prefix: str, kind: str, appid: str) -> str:
    """A cache key naming the account by a hash, so that no appid is written there."""
    return f"{prefix}:{kind}:{account_hash(appid)}"


class CacheGuard:
    """A shared cache whose failures are logged once (until it answers again) and raised as
    :class:`CacheDown`, for the caller to go on without it."""

    __slots__ = ("_cache", "_failing", "_label")

    def __init__(self, cache: Optional[SharedCache], label: str) -> None:
        self._cache = cache
        self._label = label
        self._failing = False

    @property
    def present(self) -> bool:
        return self._cache is not None

    @property
    def can_delete(self) -> bool:
        return getattr(self._cache, "delete", None) is not None

    def ask(self, method: str, *args: Any) -> Any:
        """``cache.<method>(*args)``, or CacheDown."""
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as error:  # any backend's failure: the token matters more
            if not self._failing:
                self._failing = True
                logger.warning(
                    "%s: the shared cache failed (%s: %.200s); each process goes on without "
                    "it until it answers again",
                    self._label,
                    type(error).__name__,
                    error,
                )
            raise CacheDown() from None
        self._failing = False
        return result

    def claim(self, key: str, owner: str, seconds: float) -> bool:
        """Take ``key`` for ``seconds`` (``cache.add``), so that one process does something
        once per period: False when another process holds it; True when taken, and when
        there is no cache or it fails (each process then decides for itself)."""
        if self._cache is None:
            return True
        try:
            return bool(self.ask("add", key, owner, seconds))
        except CacheDown:
            return True

    def __repr__(self) -> str:
        return f"{type(self._cache).__name__}" if self._cache is not None else "None"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Held:
    """A token and when to stop using it (Unix time, comparable across processes)."""

    token: str = attr.ib(repr=False)
    use_until: float


class SharedToken:
    """One token, fetched by one thread and one process at a time; see the module's doc.

    Subclasses implement :meth:`_fetch`. ``key`` names the token in the cache (with a hash,
    never an appid); ``label`` names it in log records.
    """

    def __init__(
        self,
        *,
        cache: Optional[SharedCache],
        key: str,
        label: str,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError("margin must be a number of seconds, 0 or more")
        self._cache = CacheGuard(cache, label)
        self._margin = float(margin)
        self._clock = clock
        self._label = label
        self._token_key = key
        self._lock_key = f"{key}:lock"
        self._owner = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._held: Optional[_Held] = None
        self.sleep: Callable[[float], None] = time.sleep  # a seam for tests
        _fork.register(self)

    def _fetch(self, refused: Optional[str], call: CallContext) -> Tuple[str, int]:
        """Ask WeChat for the token (``refused`` is the one it refused, if any): the token
        and its ``expires_in``."""
        raise NotImplementedError

    def get_token(self, call: CallContext) -> str:
        """The live token, from memory, the shared cache or WeChat (one fetch at a time)."""
        held = self._held
        if held is not None and self._clock() < held.use_until:
            return held.token
        with WaitedFor(self._lock, call, f"another thread was fetching {self._label}"):
            held = self._held
            if held is None or self._clock() >= held.use_until:
                held = self._obtain(None, call)
            return held.token

    def refresh(self, failed_token: str, call: CallContext) -> str:
        """A token to use instead of ``failed_token``: one another caller already got, or a
        new fetch, made at most once per refused token."""
        with WaitedFor(self._lock, call, f"another thread was refreshing {self._label}"):
            held = self._held
            if held is not None and held.token != failed_token:
                return held.token  # someone refreshed since failed_token was handed out
            return self._obtain(failed_token, call).token

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._lock = threading.Lock()

    def _obtain(self, refused: Optional[str], call: CallContext) -> _Held:
        """Called with the thread lock held: the token to use from now on."""
        held: Optional[_Held] = None
        if self._cache.present:
            try:
                held = self._via_shared_cache(refused, call)
            except CacheDown:
                held = None
        self._held = held or self._fetch_held(refused, call)
        return self._held

    def _forget(self) -> None:
        """Drop the held token, here and in the shared cache: WeChat will not take it."""
        self._held = None
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._token_key, None, 1)

    def seed(self, token: str, expires_in: int) -> None:
        """Hold ``token``, just issued by another endpoint, as if this slot had fetched it."""
        held = self._held_for(token, expires_in)
        self._held = held
        if self._cache.present:
            self._store(held)

    def _fetch_held(self, refused: Optional[str], call: CallContext) -> _Held:
        token, expires_in = self._fetch(refused, call)
        return self._held_for(token, expires_in)

    def _held_for(self, token: str, expires_in: int) -> _Held:
        use_for = max(expires_in - self._margin, expires_in / 2)
        logger.debug("%s: obtained, used for %.0f s", self._label, use_for)
        return _Held(token, self._clock() + use_for)

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
            if self._cache.ask("add", self._lock_key, self._owner, lifetime):
                try:
                    shared = self._read_shared()  # stored while we took the lock?
                    if shared is not None and self._usable(shared, refused):
                        return shared
                    held = self._fetch_held(refused, call)
                    self._store(held)
                    return held
                finally:
                    self._release_lock()
            remaining = call.remaining()
            if remaining <= 0:
                raise call.timed_out(f"another process was fetching {self._label}")
            self.sleep(min(_POLL, remaining))

    def _read_shared(self) -> Optional[_Held]:
        value = self._cache.ask("get", self._token_key)
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
        with contextlib.suppress(CacheDown):
            self._cache.ask("set", self._token_key, value, lifetime)

    def _release_lock(self) -> None:
        if not self._cache.can_delete:
            return  # the lock then expires by itself
        with contextlib.suppress(CacheDown):
            if self._cache.ask("get", self._lock_key) == self._owner:
                self._cache.ask("delete", self._lock_key)
