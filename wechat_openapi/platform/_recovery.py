"""Finding an account's refresh token again (61023, or none stored), and remembering the
accounts that are gone.

WeChat's own answer to a refused (61023) or lost refresh token is to ask it for the account's
current one: ``api_get_authorizer_info`` carries it in ``authorization_info``. That lookup is
made at most once per refused refresh token every LOOKUP_COOLOFF seconds, across threads and
(through the shared cache) processes, and at most once per account every LOOKUP_FLOOR
seconds; a caller that may not look up reads the store instead, where the one that did has
saved what it found. Once per refused token, not once per account: when the answer to the
recovered token is cut too (WeChat rotated it again), the next refusal is of another token and
is looked up after the floor, not after minutes. Each new refused token needs a rotation that
WeChat made, so lookups follow real progress and cannot storm.

An account WeChat no longer knows (61003 on the lookup) or that withdrew its authorization
(an ``unauthorized`` push) is remembered as gone, in memory and the shared cache, so that its
calls cost no round trip. It stays gone until it authorizes again, or until the store holds a
different refresh token than when it was marked; the store is read for that at most once every
GONE_RECHECK seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import attr

from .._shared_cache import CacheDown, CacheGuard
from ..errors import AUTHORIZER_TOKEN_PATH, AuthorizationRevokedError, ComponentNotAuthorizedError
from ..tokens import CallContext
from ._accounts import authorizer_info
from ._models import AuthorizerInfo

if TYPE_CHECKING:
    from ._platform import ComponentPlatform

LOOKUP_COOLOFF = 300.0  # seconds between lookups made for the same refused refresh token
LOOKUP_FLOOR = 10.0  # seconds between any two lookups of one account
GONE_RECHECK = 300.0  # seconds between looks at the store for an account that is gone

WITHDREW = "withdrew its authorization (an unauthorized push)"
REVOKED = "is no longer authorized, as WeChat said when its refresh token was looked up"


def _fingerprint(refresh_token: Optional[str]) -> Optional[str]:
    """What is remembered of a refresh token: enough to see that the store changed."""
    if refresh_token is None:
        return None
    return hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()[:16]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _Gone:
    why: str  # WITHDREW or REVOKED
    stored: Optional[str]  # the fingerprint of the store's refresh token when marked
    checked_at: float  # Unix time the store was last read for a new one


class AccountRecovery:
    """One account's recovery state: when it was last looked up, and whether it is gone."""

    def __init__(
        self,
        platform: ComponentPlatform,
        appid: str,
        *,
        cache: CacheGuard,
        key: str,
        owner: str,
        clock: Callable[[], float],
    ) -> None:
        self._platform = platform
        self._appid = appid
        self._cache = cache
        self._gone_key = f"{key}:gone"
        self._lookup_key = f"{key}:lookup"
        self._owner = owner
        self._clock = clock
        self._gone: Optional[_Gone] = None
        self._last_lookup: Tuple[Optional[str], float] = (None, float("-inf"))

    def check(self) -> None:
        """Raise AuthorizationRevokedError, sending nothing, while the account is gone."""
        gone = self._current_gone()
        if gone is None:
            return
        now = self._clock()
        if now - gone.checked_at >= GONE_RECHECK:
            stored = self._platform._store.load(self._appid)
            if stored is not None and _fingerprint(stored) != gone.stored:
                self.clear()  # a new refresh token: it authorized again
                return
            gone = attr.evolve(gone, checked_at=now)
            self._remember(gone)
        self._gone = gone
        message = f"the account {gone.why}; no request was sent"
        raise AuthorizationRevokedError(61003, message, AUTHORIZER_TOKEN_PATH)

    def mark_gone(self, why: str, stored: Optional[str]) -> None:
        """Remember the account as gone, with the store's refresh token at that moment."""
        self._remember(_Gone(why, _fingerprint(stored), self._clock()))

    def clear(self) -> None:
        """The account authorized again: forget that it was gone."""
        self._gone = None
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._gone_key, None, 1)

    def recover(
        self, spent: Optional[str], call: CallContext, save: Callable[[str], None]
    ) -> Optional[str]:
        """The account's current refresh token if it is not ``spent`` (None: none stored),
        saved through ``save(current)``; None when there is none to be had now.

        Raises AuthorizationRevokedError when WeChat says the account no longer authorizes
        the platform, and whatever the lookup raised when it failed otherwise.
        """
        if not self._may_look_up(spent):
            stored = self._platform._store.load(self._appid)  # another process found it?
            return stored if stored is not None and stored != spent else None
        try:
            info: Optional[AuthorizerInfo] = authorizer_info(self._platform, self._appid, call)
        except ComponentNotAuthorizedError:
            info = None
        if info is None:
            self.mark_gone(REVOKED, self._platform._store.load(self._appid))
            raise AuthorizationRevokedError(61003, f"the account {REVOKED}", AUTHORIZER_TOKEN_PATH)
        current = info.authorizer_refresh_token
        if current is None or current == spent:
            return None
        save(current)
        return current

    def _may_look_up(self, spent: Optional[str]) -> bool:
        """Whether this caller may look the account up now: once per refused token (``spent``,
        None for none stored) per cool-off, and never within the floor of the last lookup."""
        now = self._clock()
        refused = _fingerprint(spent)
        last_refused, last_at = self._last_lookup
        if now - last_at < LOOKUP_FLOOR or (
            refused == last_refused and now - last_at < LOOKUP_COOLOFF
        ):
            return False
        # Another process's floor, or its lookup of this refused token, stops this one; it
        # is remembered only for a lookup this process makes, so that a refusal here does
        # not outlast the other's floor.
        floor, key = f"{self._lookup_key}:floor", f"{self._lookup_key}:{refused or 'none'}"
        if not (
            self._cache.claim(floor, self._owner, LOOKUP_FLOOR)
            and self._cache.claim(key, self._owner, LOOKUP_COOLOFF)
        ):
            return False
        self._last_lookup = (refused, now)
        return True

    def _current_gone(self) -> Optional[_Gone]:
        """The shared mark (another process may have set or cleared it), or this process's
        own when there is no cache or it fails."""
        if not self._cache.present:
            return self._gone
        try:
            value = self._cache.ask("get", self._gone_key)
        except CacheDown:
            return self._gone
        self._gone = None
        if isinstance(value, dict):
            why, stored, at = value.get("why"), value.get("stored"), value.get("checked_at")
            if why in (WITHDREW, REVOKED) and isinstance(at, (int, float)):
                self._gone = _Gone(why, stored if isinstance(stored, str) else None, float(at))
        return self._gone

    def _remember(self, gone: _Gone) -> None:
        self._gone = gone
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                self._cache.ask("set", self._gone_key, attr.asdict(gone), None)
