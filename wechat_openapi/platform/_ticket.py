"""The component_verify_ticket: what WeChat pushes every 10 minutes, valid 12 hours, and the
one thing that buys a component token.

The newest ticket is kept in memory, in the shared cache, and (when the store has
``save_ticket``/``load_ticket``) in the user's database, written there first. So a flushed
cache or a worker that never received a push still finds a ticket received in the last 12
hours. With none anywhere, WeChat is asked once to resume its pushes (``api_start_push_ticket``,
at most once every START_PUSH_COOLOFF seconds across processes), and the call fails with
TokenUnavailableError.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, Optional

import attr

from .._shared_cache import CacheDown, CacheGuard
from ..errors import TokenUnavailableError, WeChatError
from ..tokens import CallContext
from ._store import DurableStore

TICKET_LIFETIME = 12 * 3600  # seconds a component_verify_ticket is valid
START_PUSH_COOLOFF = 600.0  # seconds between requests that WeChat resume its pushes

logger = logging.getLogger("wechat_openapi")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Ticket:
    ticket: str = attr.ib(repr=False)
    received: float  # Unix time: the push's CreateTime, or when set_verify_ticket was called


class VerifyTickets:
    """The newest ticket any process received; see the module's doc."""

    def __init__(
        self,
        *,
        cache: CacheGuard,
        key: str,
        store: DurableStore,
        clock: Callable[[], float],
        owner: str,
        start_push: Callable[[CallContext], None],
    ) -> None:
        self._cache = cache
        self._key = key
        self._store = store
        self._clock = clock
        self._owner = owner
        self._start_push = start_push
        self._newest: Optional[Ticket] = None
        self._asked_at = float("-inf")

    def set(self, ticket: str, received: float) -> None:
        """Keep ``ticket`` unless a newer one is already known: durable first."""
        newest = self._newest
        if newest is not None and newest.received > received:
            return
        self._store.save_ticket(ticket, received)
        self._share(Ticket(ticket, received))

    def _share(self, ticket: Ticket) -> None:
        """Hold ``ticket`` in memory and, unless the cache has a newer one, in the cache."""
        self._newest = ticket
        received = ticket.received
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                shared = self._read_shared()
                if shared is None or shared.received <= received:
                    value = {"ticket": ticket.ticket, "received": received}
                    self._cache.ask("set", self._key, value, TICKET_LIFETIME)

    def get(self, call: CallContext) -> str:
        """The newest ticket under 12 hours old, from memory, the cache or the store."""
        newest = self._newest
        if self._cache.present:
            with contextlib.suppress(CacheDown):
                shared = self._read_shared()
                if shared is not None and (newest is None or shared.received >= newest.received):
                    newest = shared
        if not self._fresh(newest):
            stored = self._store.load_ticket()
            if stored is not None and self._fresh(Ticket(*stored)):
                newest = Ticket(*stored)
                self._share(newest)  # back into memory and the cache, for every process
        if newest is None or not self._fresh(newest):
            asked = self._ask_for_pushes(call)
            raise TokenUnavailableError(
                "no component_verify_ticket received in the last 12 hours: has the callback "
                "URL received WeChat's pushes (one every 10 minutes)? "
                + (
                    "WeChat was just asked to resume them (api_start_push_ticket)"
                    if asked
                    else "WeChat was asked to resume them in the last "
                    f"{START_PUSH_COOLOFF / 60:.0f} minutes"
                )
            )
        self._newest = newest
        return newest.ticket

    def _fresh(self, ticket: Optional[Ticket]) -> bool:
        return ticket is not None and self._clock() - ticket.received < TICKET_LIFETIME

    def _read_shared(self) -> Optional[Ticket]:
        shared = self._cache.ask("get", self._key)
        if not isinstance(shared, dict) or not isinstance(shared.get("ticket"), str):
            return None
        received = shared.get("received")
        if isinstance(received, bool) or not isinstance(received, (int, float)):
            return None
        return Ticket(shared["ticket"], float(received))

    def _ask_for_pushes(self, call: CallContext) -> bool:
        """Ask WeChat to resume pushes, once per cool-off across processes; whether asked."""
        now = self._clock()
        if now - self._asked_at < START_PUSH_COOLOFF:
            return False
        self._asked_at = now
        if not self._cache.claim(f"{self._key}:start_push", self._owner, START_PUSH_COOLOFF):
            return False
        try:
            self._start_push(call)
        except WeChatError as error:
            logger.warning("asking WeChat to resume ticket pushes failed: %s", error)
        return True
