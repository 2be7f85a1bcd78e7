"""Third-party platforms never lose their state: the verify ticket survives a flushed cache and
a worker that never got a push, a refresh token whose save fails is retried within the call and
kept until saved, and with no ticket anywhere WeChat is asked once to resume its pushes."""

from __future__ import annotations

import logging
from typing import Any, List, Optional, Tuple

import pytest
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
from tests.platform_support import (
    AUTHORIZER_TOKEN,
    COMPONENT_APPID,
    COMPONENT_SECRET,
    COMPONENT_TOKEN,
    START_PUSH,
    Store,
    paths,
    platform,
)
from wechat_openapi.testing import TICKET_LIFETIME, Account, Component, FakeWeChat


class TicketStore(Store):
    """A store that also keeps the newest ticket, as the README's model does."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.ticket: Optional[Tuple[str, float]] = None

    def save_ticket(self, ticket: str, received_at: float) -> None:
        self.ticket = (ticket, received_at)

    def load_ticket(self) -> Optional[Tuple[str, float]]:
        return self.ticket


class LockedStore(Store):
    """A store whose first ``fails`` saves raise, as a locked SQLite does."""

    def __init__(self, fails: int, *args: Any) -> None:
        super().__init__(*args)
        self.fails = fails
        self.attempts = 0

    def save(self, authorizer_appid: str, refresh_token: str) -> None:
        self.attempts += 1
        if self.attempts <= self.fails:
            raise RuntimeError(f"database is locked {refresh_token}")
        super().save(authorizer_appid, refresh_token)


def quiet(tenant: wo.ComponentPlatform) -> List[float]:
    """Record the store's retry delays instead of sleeping them."""
    delays: List[float] = []
    tenant._store.sleep = delays.append
    return delays


def test_a_stored_ticket_buys_a_component_token_after_the_cache_is_flushed(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    store = TicketStore({"wxshop": wechat_fake.authorize(component, shop)})
    cache = LocMemCache("durable-ticket", {})
    receiver = platform(wechat_fake, store, cache=cache)
    receiver.set_verify_ticket(wechat_fake.issue_ticket(component))
    assert store.ticket is not None  # written to the database first

    cache.clear()  # Redis restarted empty
    worker = platform(wechat_fake, store, cache=cache)  # never received a push
    assert worker.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake)[:2] == [COMPONENT_TOKEN, AUTHORIZER_TOKEN]
    assert START_PUSH not in paths(wechat_fake)

    # The ticket went back into the cache: a third worker needs no store for it.
    store.ticket = None
    third = platform(wechat_fake, store, cache=cache)
    assert third._tickets.get(third._client._context()) == receiver._tickets._newest.ticket  # type: ignore[union-attr]


def test_a_stored_ticket_older_than_12_hours_is_not_used(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    store = TicketStore()
    now = [2_000_000.0]
    store.ticket = (wechat_fake.issue_ticket(component), now[0] - TICKET_LIFETIME)
    tenant = platform(wechat_fake, store, clock=lambda: now[0])
    with pytest.raises(wo.TokenUnavailableError, match="received in the last 12 hours"):
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake) == [START_PUSH]


def test_with_no_ticket_anywhere_wechat_is_asked_once_to_resume_pushes(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    cache = LocMemCache("start-push", {})
    first = platform(wechat_fake, Store({"wxshop": "refreshtoken@@@1"}), cache=cache)
    second = platform(wechat_fake, Store({"wxshop": "refreshtoken@@@1"}), cache=cache)
    for tenant in (first, second, first, second):
        with pytest.raises(wo.TokenUnavailableError, match="no component_verify_ticket"):
            tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake) == [START_PUSH]
    assert wechat_fake.requests[0].json() == {
        "component_appid": COMPONENT_APPID,
        "component_secret": COMPONENT_SECRET,
    }


def test_a_failing_request_to_resume_pushes_is_logged_and_the_error_stays_clear(
    wechat_fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    wechat_fake.add_component(COMPONENT_APPID, secret="another secret")
    tenant = platform(wechat_fake, Store({"wxshop": "refreshtoken@@@1"}))
    with pytest.raises(wo.TokenUnavailableError, match="WeChat was just asked to resume"):
        tenant.client("wxshop").get_open_account()
    assert "asking WeChat to resume ticket pushes failed: 40125" in caplog.text
    assert COMPONENT_SECRET not in caplog.text


def test_a_save_that_fails_briefly_is_retried_within_the_call(
    wechat_fake: FakeWeChat,
    rotating: Component,
    shop: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    component = rotating
    store = LockedStore(2, {"wxshop": wechat_fake.authorize(component, shop)})
    tenant = platform(wechat_fake, store)
    delays = quiet(tenant)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert store.tokens["wxshop"] == component.authorizations["wxshop"].refresh_token
    assert store.attempts == 3
    assert len(delays) == 2
    assert "save failed" not in caplog.text


def test_a_save_that_keeps_failing_is_logged_once_per_account_by_hash(
    wechat_fake: FakeWeChat,
    rotating: Component,
    shop: Account,
    caplog: pytest.LogCaptureFixture,
) -> None:
    component = rotating
    first = wechat_fake.authorize(component, shop)
    store = LockedStore(10**6, {"wxshop": first})
    tenant = platform(wechat_fake, store, deadline=5)
    delays = quiet(tenant)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    for _ in range(3):
        wechat_fake.expire_authorizer_tokens(component, shop)
        delays.clear()
        assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
        assert 0 < sum(delays) <= 2.0  # retried, within the save budget and the deadline
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "refresh_tokens.save failed for account " in warnings[0].getMessage()
    assert "wxshop" not in caplog.text
    assert first not in caplog.text
    assert component.authorizations["wxshop"].refresh_token not in caplog.text

    store.fails = 0
    wechat_fake.expire_authorizer_tokens(component, shop)
    with caplog.at_level(logging.INFO, logger="wechat_openapi"):
        assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert store.tokens["wxshop"] == component.authorizations["wxshop"].refresh_token
    assert "refresh_tokens.save succeeded again for account" in caplog.text


@pytest.mark.parametrize(
    "ticket",
    [
        " ",
        "<xml><ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>",
        "ticket with spaces",
        "x" * 513,
    ],
)
def test_set_verify_ticket_refuses_what_is_not_a_ticket(ticket: str) -> None:
    tenant = wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=Store())
    with pytest.raises(ValueError, match="ComponentVerifyTicket value itself"):
        tenant.set_verify_ticket(ticket)


def test_the_newest_ticket_wins_by_its_time_not_by_arrival(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    store = TicketStore()
    tenant = platform(wechat_fake, store)
    newer, older = wechat_fake.issue_ticket(component), wechat_fake.issue_ticket(component)
    tenant._tickets.set(newer, 1_000.0)
    tenant._tickets.set(older, 999.0)  # a late delivery of an older push
    assert store.ticket == (newer, 1_000.0)


def test_a_save_that_blocks_before_it_fails_spends_the_budget_in_wall_time(
    wechat_fake: FakeWeChat, rotating: Component, shop: Account
) -> None:
    """A locked SQLite waits out its busy timeout before it raises: each attempt's wait
    counts, so a save never holds a call (and a gunicorn worker) for long."""
    now = [0.0]

    class BlockingStore(LockedStore):
        def save(self, authorizer_appid: str, refresh_token: str) -> None:
            now[0] += 1.0  # each attempt blocks a second, then raises
            super().save(authorizer_appid, refresh_token)

    store = BlockingStore(10**6, {"wxshop": wechat_fake.authorize(rotating, shop)})
    tenant = platform(wechat_fake, store)
    tenant._store.clock = lambda: now[0]
    tenant._store.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(rotating))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert store.attempts == 2  # 1 s, a 10 ms pause, 1 s: the 2 s budget is spent
    assert now[0] <= 2.0 + 1.0
