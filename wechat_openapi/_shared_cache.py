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
token is used until ``expires_in`` minus a margin (at least half its life).

Every token carries the time it was first obtained, in memory and in the cache, because after
WeChat refuses a token the only safe replacement is a *newer* one: a cache that was down while
a process refreshed may come back holding an older token, as dead as the refused one. Newer is
not enough either: whatever killed the refused token (a revocation, every token expired at
once) may have killed every token of the account, the cached one too, and no age tells which.
So a cached token is taken in its place only if WeChat handed it out after the refusal was
seen, that is, in answer to it (a process that waited for another's fetch takes that one);
otherwise one fetch decides (in normal mode stable_token then confirms the same token). A source
with a forced mode (stable_token's ``force_refresh``) is asked in normal mode first, and forced
only when that answer is the refused token itself: one forced refresh in flight per account, and
none again for FORCE_COOL_OFF seconds after one that was abandoned (it may have rotated the
token at WeChat all the same).

A cache that fails (Redis down or hung) is skipped by the whole process for CACHE_COOL_OFF
seconds (with jitter), then probed by one caller: one WARNING per outage, one INFO when it
answers again, and at most one cache timeout per cool-off. Meanwhile each process fetches and
holds its own tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import random
import secrets
import threading
import time
from typing import Any, Callable, Dict, Optional, Protocol, Tuple

import attr

from . import _fork
from ._redact import in_flight, shown, strings_in
from .errors import APIError
from .tokens import CallContext, WaitedFor

DEFAULT_MARGIN = 300.0  # seconds: WeChat issues the next token in the last 5 minutes
CACHE_COOL_OFF = 10.0  # seconds a failed cache is skipped before one caller tries it again
COOL_OFF_JITTER = 0.5  # up to this share more, so that processes do not all probe at once
FORCE_COOL_OFF = 60.0  # seconds without a forced refresh after one was abandoned
_POLL = 0.05  # seconds between looks at the shared cache while another process fetches

logger = logging.getLogger("wechat_openapi")


class SharedCache(Protocol):
    """The part of Django's cache API the library uses (``delete`` is optional)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: Any = ...) -> Any: ...

    def add(self, key: str, value: Any, timeout: Any = ...) -> bool: ...


class CacheDown(Exception):
    """The shared cache failed, or is being skipped; the caller goes on without it."""


def account_hash(appid: str) -> str:
    """A short hash naming an account in cache keys and log records, instead of its appid."""
    return hashlib.sha256(appid.encode("utf-8")).hexdigest()[:16]


def account_key(prefix: str, kind: str, appid: str) -> str:
    """A cache key naming the account by a hash, so that no appid is written there."""
    return f"{prefix}:{kind}:{account_hash(appid)}"


class _Circuit:
    """Whether this process uses one cache object just now.

    After a failure the cache is skipped for a cool-off; then the first caller probes it while
    the others go on skipping, so a hung cache costs this process one cache timeout per
    cool-off, however many token slots and threads use it.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._down = False
        self._probing = False
        self._skip_until = 0.0  # time.monotonic()
        _fork.register(self)

    def admit(self) -> Optional[bool]:
        """None: skip the cache; False: use it; True: use it as the probe after an outage."""
        if not self._down:
            return False
        with self._lock:
            if not self._down:
                return False
            if self._probing or time.monotonic() < self._skip_until:
                return None
            self._probing = True
            return True

    def failed(self, error: Exception, stored: Tuple[str, ...] = ()) -> None:
        """The cache raised ``error``; ``stored`` (the strings being stored) are masked in the
        one WARNING of the outage, as is every secret of the calls in flight."""
        cool_off = CACHE_COOL_OFF * (1 + random.random() * COOL_OFF_JITTER)
        with self._lock:
            first = not self._down
            self._down, self._probing = True, False
            self._skip_until = time.monotonic() + cool_off
        if first:
            logger.warning(
                "the shared cache (%s) failed (%s: %s); this process skips it for %.0f to "
                "%.0f s at a time, fetching and holding its own tokens, until it answers again",
                self._name,
                type(error).__name__,
                shown(str(error), (*stored, *in_flight()), 200),  # masked before it is cut
                CACHE_COOL_OFF,
                CACHE_COOL_OFF * (1 + COOL_OFF_JITTER),
            )

    def answered(self) -> None:
        """The probe got an answer: the cache is back for every caller."""
        with self._lock:
            self._down = self._probing = False
        logger.info("the shared cache (%s) answers again; tokens are shared again", self._name)

    def after_fork_in_child(self) -> None:
        """The child starts with a fresh lock; a probe in flight in the parent is not its."""
        self._lock = threading.Lock()
        self._probing = False


_CIRCUITS: Dict[int, Tuple[object, _Circuit]] = {}  # id(cache) -> (the cache, its circuit)
_CIRCUITS_LOCK = threading.Lock()


def _circuit_for(cache: object) -> _Circuit:
    """The one circuit of this process for ``cache`` (the cache is kept, so its id is not
    reused: caches live as long as the process)."""
    with _CIRCUITS_LOCK:
        entry = _CIRCUITS.get(id(cache))
        if entry is None or entry[0] is not cache:
            entry = (cache, _Circuit(type(cache).__name__))
            _CIRCUITS[id(cache)] = entry
        return entry[1]


class CacheGuard:
    """A shared cache whose failures are raised as :class:`CacheDown`, for the caller to go
    on without it, and which is skipped by the whole process for a cool-off after one (see
    :class:`_Circuit`)."""

    __slots__ = ("_cache", "_circuit")

    def __init__(self, cache: Optional[SharedCache]) -> None:
        self._cache = cache
        self._circuit = _circuit_for(cache) if cache is not None else None

    @property
    def present(self) -> bool:
        return self._cache is not None

    @property
    def can_delete(self) -> bool:
        return getattr(self._cache, "delete", None) is not None

    def ask(self, method: str, *args: Any) -> Any:
        """``cache.<method>(*args)``, or CacheDown (at once while the cache is skipped)."""
        circuit = self._circuit
        probe = circuit.admit() if circuit is not None else None
        if circuit is None or probe is None:
            raise CacheDown()
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as error:  # any backend's failure: the token matters more
            circuit.failed(error, strings_in(list(args[1:])))  # the value, not the key
            raise CacheDown() from None
        if probe:
            circuit.answered()
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

    def release(self, key: str, owner: str) -> None:
        """Delete ``key`` if ``owner`` still holds it (a cache without ``delete`` lets it
        expire by itself)."""
        if not self.can_delete:
            return
        with contextlib.suppress(CacheDown):
            if self.ask("get", key) == owner:
                self.ask("delete", key)

    def __repr__(self) -> str:
        return f"{type(self._cache).__name__}" if self._cache is not None else "None"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Held:
    """A token, when to stop using it, when it was first obtained, and when WeChat last
    handed it out (Unix times, comparable across processes)."""

    token: str = attr.ib(repr=False)
    use_until: float
    issued: float
    confirmed: float


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Refusal:
    """The token WeChat refused, and when the refusal was seen (a cached token WeChat handed
    out before that may have died of the same cause)."""

    token: str = attr.ib(repr=False)
    seen: float


class SharedToken:
    """One token, fetched by one thread and one process at a time; see the module's doc.

    Subclasses implement :meth:`_fetch` and set :attr:`can_force` when it has a forced
    mode. ``key`` names the token in the cache (with a hash, never an appid); ``label``
    names it in log records and errors.
    """

    #: whether ``_fetch(force=True)`` replaces a token that the normal mode still hands out
    can_force = False

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
        self._cache = CacheGuard(cache)
        self._margin = float(margin)
        self._clock = clock
        self._label = label
        self._token_key = key
        self._lock_key = f"{key}:lock"
        self._owner = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._held: Optional[_Held] = None
        self._newest = -math.inf  # when the newest token this slot ever held was obtained
        self._no_force_until = -math.inf  # after a forced refresh this process abandoned
        self.sleep: Callable[[float], None] = time.sleep  # a seam for tests
        _fork.register(self)

    @property
    def _force_key(self) -> str:
        """The cache key of the one forced refresh in flight (built when needed: forcing is
        rare, and a platform keeps a slot per account)."""
        return f"{self._token_key}:force"

    def _fetch(self, force: bool, call: CallContext) -> Tuple[str, int]:
        """Ask WeChat for the token (``force``: in the forced mode, only where
        :attr:`can_force`): the token and its ``expires_in``."""
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
        """A token to use instead of ``failed_token``, newer than it: one another caller
        already got, or a new fetch. Returns ``failed_token`` itself when WeChat still hands
        it out and may not be forced just now."""
        refusal = _Refusal(failed_token, self._clock())
        with WaitedFor(self._lock, call, f"another thread was refreshing {self._label}"):
            held = self._held
            if held is not None and held.token != failed_token and self._clock() < held.use_until:
                return held.token  # a slot only ever moves on to newer tokens
            return self._obtain(refusal, call).token

    def after_fork_in_child(self) -> None:
        """A parent thread may have held the lock at fork; the child gets a fresh one."""
        self._lock = threading.Lock()

    def _obtain(self, refused: Optional[_Refusal], call: CallContext) -> _Held:
        """Called with the thread lock held: the token to use from now on."""
        held: Optional[_Held] = None
        if self._cache.present:
            try:
                held = self._via_shared_cache(refused, call)
            except CacheDown:
                held = None
        if held is None:
            held = self._fetch_held(refused, call, self._held)
        self._hold(held)
        return held

    def _hold(self, held: _Held) -> None:
        self._held = held
        self._newest = max(self._newest, held.issued)

    def _forget(self) -> None:
        """Drop the held token, here and in the shared cache: WeChat will not take it."""
        self._held = None
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._token_key, None, 1)

    def seed(self, token: str, expires_in: int) -> None:
        """Hold ``token``, just issued by another endpoint, as if this slot had fetched it."""
        held = self._held_for(token, expires_in, self._clock())
        self._hold(held)
        if self._cache.present:
            self._store(held)

    def _takes(self, shared: Optional[_Held], refused: Optional[_Refusal]) -> bool:
        """Whether to use a token read from the shared cache: live, and never older than a
        token this slot held; after a refusal, strictly newer (so never the refused one) and
        handed out by WeChat after the refusal was seen."""
        now = self._clock()
        if shared is None or now >= shared.use_until:
            return False
        if refused is None:
            return shared.issued >= self._newest
        since = shared.confirmed >= refused.seen
        return shared.token != refused.token and shared.issued > self._newest and since

    def _fetch_held(
        self, refused: Optional[_Refusal], call: CallContext, *known: Optional[_Held]
    ) -> _Held:
        """Fetch in normal mode; after a refusal, force only if that answer is the refused
        token itself. A token seen before (``known``) keeps the time it was first obtained."""
        held = self._issued(self._fetch(False, call), known)
        if refused is None or held.token != refused.token or not self.can_force:
            return held
        forced = self._forced(call, known)
        if forced is None:  # DEBUG: while it lasts, every refused call comes this way
            logger.debug(
                "%s: WeChat still hands out the token it refused, and a forced refresh is "
                "in flight or was abandoned less than %.0f s ago; not forcing another",
                self._label,
                FORCE_COOL_OFF,
            )
            return held  # the caller raises WeChat's refusal
        return forced

    def _forced(self, call: CallContext, known: Tuple[Optional[_Held], ...]) -> Optional[_Held]:
        """A forced fetch, unless one is in flight in any process or was abandoned within
        FORCE_COOL_OFF seconds (then None)."""
        if self._clock() < self._no_force_until:
            return None
        hold_for = max(FORCE_COOL_OFF, math.ceil(max(call.remaining(), 0)) + 1)
        if not self._cache.claim(self._force_key, self._owner, hold_for):
            return None
        try:
            held = self._issued(self._fetch(True, call), known)
        except APIError:
            self._cache.release(self._force_key, self._owner)  # WeChat answered: no rotation
            raise
        except BaseException:
            # Abandoned (a timeout, a cut connection): WeChat may still rotate the token, so
            # the claim stays for its cool-off, and this process keeps its own note of it.
            self._no_force_until = self._clock() + FORCE_COOL_OFF
            raise
        self._cache.release(self._force_key, self._owner)
        return held

    def _issued(self, fetched: Tuple[str, int], known: Tuple[Optional[_Held], ...]) -> _Held:
        token, expires_in = fetched
        first = next((k.issued for k in known if k is not None and k.token == token), None)
        return self._held_for(token, expires_in, self._clock() if first is None else first)

    def _held_for(self, token: str, expires_in: int, issued: float) -> _Held:
        """``token`` as WeChat handed it out just now."""
        use_for = max(expires_in - self._margin, expires_in / 2)
        logger.debug("%s: obtained, used for %.0f s", self._label, use_for)
        now = self._clock()
        return _Held(token, now + use_for, issued, now)

    def _via_shared_cache(self, refused: Optional[_Refusal], call: CallContext) -> _Held:
        """The shared token if this slot may take it; else fetch under the shared lock, or
        wait for the process that holds it until this call's deadline."""
        while True:
            shared = self._read_shared()
            if self._takes(shared, refused):
                assert shared is not None
                return shared
            lifetime = math.ceil(max(call.remaining(), 0)) + 1  # outlives the holder's call
            if self._cache.ask("add", self._lock_key, self._owner, lifetime):
                try:
                    shared = self._read_shared()  # stored while we took the lock?
                    if self._takes(shared, refused):
                        assert shared is not None
                        return shared
                    held = self._fetch_held(refused, call, self._held, shared)
                    self._store(held)
                    return held
                finally:
                    self._cache.release(self._lock_key, self._owner)
            remaining = call.remaining()
            if remaining <= 0:
                raise call.timed_out(f"another process was fetching {self._label}")
            self.sleep(min(_POLL, remaining))

    def _read_shared(self) -> Optional[_Held]:
        value = self._cache.ask("get", self._token_key)
        if not isinstance(value, dict):
            return None
        token, use_until = value.get("access_token"), value.get("use_until", "")
        issued = value.get("issued", 0.0)  # absent when an older release stored it: oldest
        confirmed: Any = value.get("confirmed", issued)
        times = (use_until, issued, confirmed)
        if not isinstance(token, str) or not all(_is_time(time) for time in times):
            return None
        return _Held(token, float(use_until), float(issued), float(confirmed))

    def _store(self, held: _Held) -> None:
        """Share a fetched token; if the cache fails now, this process still has it."""
        lifetime = max(1, int(held.use_until - self._clock()))
        value = {
            "access_token": held.token,
            "use_until": held.use_until,
            "issued": held.issued,
            "confirmed": held.confirmed,
        }
        with contextlib.suppress(CacheDown):
            self._cache.ask("set", self._token_key, value, lifetime)


def _is_time(value: Any) -> bool:
    """A Unix time as the cache holds it: a finite int or float."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
