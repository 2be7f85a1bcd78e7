"""The platform's durable state, in the user's database: each account's refresh token and,
optionally, the newest verify ticket.

A refresh token WeChat replaces is gone at WeChat, so the replacement must reach the database
before anything else can lose it. :class:`DurableStore` wraps the user's store with that rule:
a failed save is retried within the call's deadline (a locked SQLite usually clears in
milliseconds), and a save that still fails is logged once per account, by a hash of its appid.
The caller keeps the replacement in the shared cache until a save succeeds, and the account
stays recoverable from WeChat (see ``_recovery``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional, Protocol, Set, Tuple

from .._redact import scrub
from .._shared_cache import account_hash
from ..tokens import CallContext

logger = logging.getLogger("wechat_openapi")

# Seconds between save attempts; a save is retried while the call has time for it, and for
# at most SAVE_BUDGET seconds (or half the call's remaining time, if less).
SAVE_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
SAVE_BUDGET = 2.0


class RefreshTokenStore(Protocol):
    """Where the platform keeps each account's ``authorizer_refresh_token``: your database.

    ``load`` returns None for an account with none (it has not authorized the platform).
    ``save`` is called with every refresh token WeChat returns; if it raises, it is retried
    within the call's deadline, and the new token is kept in the shared cache (and memory)
    until a save succeeds.

    Optional methods, used when present:

    - ``delete(authorizer_appid)``: the account withdrew its authorization (an
      ``unauthorized`` push);
    - ``save_ticket(ticket, received_at)`` and ``load_ticket() -> (ticket, received_at) or
      None``: the newest ``component_verify_ticket`` and its push's Unix time, so that a
      flushed cache or a worker that never received a push can still buy a component token.
    """

    def load(self, authorizer_appid: str) -> Optional[str]: ...

    def save(self, authorizer_appid: str, refresh_token: str) -> None: ...


class DurableStore:
    """The user's store, used by the library's rules: see the module's doc."""

    def __init__(self, store: Any) -> None:
        if not all(callable(getattr(store, method, None)) for method in ("load", "save")):
            raise TypeError("refresh_tokens must have load(appid) and save(appid, token)")
        self._store = store
        self.sleep: Callable[[float], None] = time.sleep  # seams for tests
        self.clock: Callable[[], float] = time.monotonic
        self._failing: Set[str] = set()  # hashes of the accounts whose last save failed
        self._failing_lock = threading.Lock()

    @property
    def keeps_tickets(self) -> bool:
        return all(
            callable(getattr(self._store, method, None))
            for method in ("load_ticket", "save_ticket")
        )

    def load(self, appid: str) -> Optional[str]:
        """The stored refresh token, or None (an empty str counts as none)."""
        stored = self._store.load(appid)
        if stored is None or stored == "":
            return None
        if not isinstance(stored, str):
            raise TypeError(
                f"refresh_tokens.load returned a {type(stored).__name__}, not a str or None"
            )
        return stored

    def save(self, appid: str, refresh_token: str, call: CallContext) -> bool:
        """Save, retrying within the call's time; whether the store took it."""
        budget = min(SAVE_BUDGET, max(call.remaining(), 0) / 2)
        started = self.clock()
        slept = 0.0
        for delay in (*SAVE_DELAYS, None):
            try:
                self._store.save(appid, refresh_token)
            except Exception as error:  # the store's failure: the refresh token matters more
                failure = error
            else:
                self._recovered(appid)
                return True
            # Wall time: a save that blocks before it raises (SQLite's busy timeout) spends
            # the budget too, not only the sleeps between attempts.
            spent = max(slept, self.clock() - started)
            if delay is None or spent + delay > budget:
                break
            self.sleep(delay)
            slept += delay
        self._failed(appid, failure, refresh_token)
        return False

    def delete(self, appid: str) -> None:
        """Forget the account's refresh token, if the store can."""
        delete = getattr(self._store, "delete", None)
        if not callable(delete):
            return
        try:
            delete(appid)
        except Exception as error:  # logged; the account is marked withdrawn all the same
            logger.warning(
                "refresh_tokens.delete failed for account %s (%s)",
                account_hash(appid),
                type(error).__name__,
            )

    def save_ticket(self, ticket: str, received_at: float) -> None:
        if not self.keeps_tickets:
            return
        try:
            self._store.save_ticket(ticket, received_at)
        except Exception as error:  # the ticket is still in memory and the cache
            logger.warning(
                "refresh_tokens.save_ticket failed (%s: %.200s); the ticket is kept in memory "
                "and the shared cache",
                type(error).__name__,
                scrub(str(error), (ticket,)),
            )

    def load_ticket(self) -> Optional[Tuple[str, float]]:
        """The stored ticket and its Unix time, or None (also for a malformed value)."""
        if not self.keeps_tickets:
            return None
        stored = self._store.load_ticket()
        if (
            isinstance(stored, (tuple, list))
            and len(stored) == 2
            and isinstance(stored[0], str)
            and stored[0]
            and isinstance(stored[1], (int, float))
            and not isinstance(stored[1], bool)
        ):
            return stored[0], float(stored[1])
        return None

    def _failed(self, appid: str, error: Exception, refresh_token: str) -> None:
        name = account_hash(appid)
        with self._failing_lock:
            first = name not in self._failing
            self._failing.add(name)
        if first:
            logger.warning(
                "refresh_tokens.save failed for account %s (%s: %.200s); the new "
                "authorizer_refresh_token is kept in the shared cache and memory, and saved "
                "again at the account's next token fetch",
                name,
                type(error).__name__,
                scrub(str(error), (refresh_token, appid)),
            )

    def _recovered(self, appid: str) -> None:
        name = account_hash(appid)
        with self._failing_lock:
            if name not in self._failing:
                return
            self._failing.discard(name)
        logger.info("refresh_tokens.save succeeded again for account %s", name)
