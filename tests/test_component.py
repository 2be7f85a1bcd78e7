"""Third-party platforms: the ticket, component token and authorizer token chain, against the
fake WeChat over real sockets (the multi-process Redis test is in test_component_redis.py)."""

from __future__ import annotations

import logging
from typing import Any, Optional

import pytest
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
from tests.conftest import run_in_threads
from tests.platform_support import (
    AUTHORIZER_TOKEN,
    COMPONENT_APPID,
    COMPONENT_SECRET,
    COMPONENT_TOKEN,
    OPEN_GET,
    START_PUSH,
    Store,
    paths,
    platform,
)
from tests.test_redaction import texts_of
from wechat_openapi.testing import TICKET_LIFETIME, Account, Component, FakeWeChat, Fault


def test_the_whole_chain_from_a_ticket_to_an_authorized_call_on_one_connection(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"

    assert paths(wechat_fake) == [COMPONENT_TOKEN, AUTHORIZER_TOKEN, OPEN_GET, OPEN_GET]
    token_request, authorizer_request = wechat_fake.requests[:2]
    assert token_request.json()["component_verify_ticket"] in component.tickets
    assert authorizer_request.json() == {
        "component_appid": COMPONENT_APPID,
        "authorizer_appid": "wxshop",
        "authorizer_refresh_token": store.tokens["wxshop"],
    }
    assert "component_access_token=" in authorizer_request.target
    assert wechat_fake.connections == 1


def test_a_rotated_refresh_token_is_saved_and_used_next_time(wechat_fake: FakeWeChat) -> None:
    component = wechat_fake.add_component(
        COMPONENT_APPID, secret=COMPONENT_SECRET, rotate_refresh_tokens=True
    )
    shop = wechat_fake.add_account("wxshop", open_appid="wxopen-shop")
    first = wechat_fake.authorize(component, shop)
    store = Store({"wxshop": first})
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    tenant.client("wxshop").get_open_account()
    second = store.tokens["wxshop"]
    assert second != first
    assert second == component.authorizations["wxshop"].refresh_token

    wechat_fake.expire_authorizer_tokens(component, shop)  # the next call needs a new one
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert wechat_fake.requests[-2].json()["authorizer_refresh_token"] == second
    assert store.saved == ["wxshop", "wxshop"]


class FlakyStore(Store):
    """A store whose save fails while ``failing`` (a database that is locked)."""

    failing = True

    def save(self, authorizer_appid: str, refresh_token: str) -> None:
        if self.failing:
            raise RuntimeError("database is locked")
        super().save(authorizer_appid, refresh_token)


@pytest.mark.parametrize("shared", [False, True], ids=["one process", "two sharing a cache"])
def test_a_refresh_token_whose_save_failed_is_kept_used_and_saved_later(
    wechat_fake: FakeWeChat, caplog: pytest.LogCaptureFixture, shared: bool
) -> None:
    component = wechat_fake.add_component(
        COMPONENT_APPID, secret=COMPONENT_SECRET, rotate_refresh_tokens=True
    )
    shop = wechat_fake.add_account("wxshop", open_appid="wxopen-shop")
    first = wechat_fake.authorize(component, shop)
    store = FlakyStore({"wxshop": first})
    cache = LocMemCache(f"component-rotation-{shared}", {}) if shared else None
    tenant = platform(wechat_fake, store, cache=cache)
    tenant._store.sleep = lambda seconds: None
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert store.tokens["wxshop"] == first  # the save failed...
    assert "refresh_tokens.save failed for account" in caplog.text
    assert "(RuntimeError: database is locked)" in caplog.text
    second = component.authorizations["wxshop"].refresh_token  # ...and WeChat rotated

    store.failing = False
    wechat_fake.expire_authorizer_tokens(component, shop)
    other = platform(wechat_fake, store, cache=cache) if shared else tenant
    assert other.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert wechat_fake.requests[-2].json()["authorizer_refresh_token"] == second
    assert store.tokens["wxshop"] == component.authorizations["wxshop"].refresh_token
    assert second not in caplog.text
    assert first not in caplog.text


def test_a_cut_authorizer_token_answer_is_not_retried(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    """WeChat may have replaced the refresh token already: sending it again would be refused."""
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)
    with pytest.raises(wo.TransportError):
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake) == [COMPONENT_TOKEN, AUTHORIZER_TOKEN]


def test_an_account_that_never_authorized_gets_61003(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    stranger = wechat_fake.add_account("wxstranger", open_appid="wxopen-x")
    store.tokens["wxstranger"] = "refreshtoken@@@made-up"
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    with pytest.raises(wo.ComponentNotAuthorizedError):
        tenant.client(stranger.appid).get_open_account()
    assert paths(wechat_fake).count(AUTHORIZER_TOKEN) == 1


def test_no_ticket_yet_is_a_clear_error_and_sends_nothing(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    with pytest.raises(wo.TokenUnavailableError, match="no component_verify_ticket received in"):
        platform(wechat_fake, store).client("wxshop").get_open_account()
    assert paths(wechat_fake) == [START_PUSH]  # WeChat asked to resume pushes, nothing else


def test_a_ticket_older_than_12_hours_is_not_used(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    now = [1_000_000.0]
    tenant = platform(wechat_fake, store, clock=lambda: now[0])
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    now[0] += TICKET_LIFETIME
    with pytest.raises(wo.TokenUnavailableError, match="received in the last 12 hours"):
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake) == [START_PUSH]


def test_the_newest_ticket_wins(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket("ticket@@@an-old-one-WeChat-no-longer-knows")
    newest = wechat_fake.issue_ticket(component)
    tenant.set_verify_ticket(newest)
    tenant.client("wxshop").get_open_account()
    assert wechat_fake.requests[0].json()["component_verify_ticket"] == newest


@pytest.mark.parametrize(
    ("advance", "error_class"),
    [(TICKET_LIFETIME + 1, wo.VerifyTicketExpiredError), (None, wo.VerifyTicketInvalidError)],
)
def test_a_ticket_wechat_refuses_raises_its_error_once(
    wechat_fake: FakeWeChat,
    component: Component,
    store: Store,
    advance: Optional[float],
    error_class: Any,
) -> None:
    tenant = platform(wechat_fake, store)
    if advance is None:
        tenant.set_verify_ticket("ticket@@@never-pushed")
    else:
        tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
        wechat_fake.advance(advance)  # WeChat's clock: the platform's still thinks it fresh
    with pytest.raises(error_class) as caught:
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake) == [COMPONENT_TOKEN]
    assert caught.value.path == COMPONENT_TOKEN


def test_20_threads_on_a_rejected_authorizer_token_cause_one_refresh(
    wechat_fake: FakeWeChat, component: Component, shop: Account, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    tenant.client("wxshop").get_open_account()
    wechat_fake.expire_authorizer_tokens(component, shop)
    before = len(wechat_fake.requests)

    results = run_in_threads(20, lambda _: tenant.client("wxshop").get_open_account().open_appid)

    assert results == ["wxopen-shop"] * 20
    assert paths(wechat_fake)[before:].count(AUTHORIZER_TOKEN) == 1
    assert paths(wechat_fake)[before:].count(COMPONENT_TOKEN) == 0


def test_a_rejected_component_token_is_refreshed_once_inside_the_authorizer_fetch(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    wechat_fake.inject(Fault.api_error(42001, "access_token expired"), path=AUTHORIZER_TOKEN)
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake) == [
        COMPONENT_TOKEN,
        AUTHORIZER_TOKEN,  # refused: component token expired
        COMPONENT_TOKEN,
        AUTHORIZER_TOKEN,
        OPEN_GET,
    ]


def test_many_accounts_share_one_component_token_and_one_connection(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    accounts = [wechat_fake.add_account(f"wx{i:03d}", open_appid=f"wxopen{i}") for i in range(50)]
    store = Store({a.appid: wechat_fake.authorize(component, a) for a in accounts})
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    answers = [tenant.client(a.appid).get_open_account().open_appid for a in accounts]

    assert answers == [f"wxopen{i}" for i in range(50)]
    assert paths(wechat_fake).count(COMPONENT_TOKEN) == 1
    assert paths(wechat_fake).count(AUTHORIZER_TOKEN) == 50
    assert wechat_fake.connections == 1
    assert tenant.client("wx000")._transport is tenant.component_client()._transport


def test_the_component_client_uses_the_component_token(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    own = tenant.component_client()
    with pytest.raises(wo.APIUnauthorizedError, match="component token on an authorizer API"):
        own.get_open_account()
    rid = wechat_fake.add_rid(component.account)
    assert own.get_rid_info(rid).request_url.startswith("access_token=")


def test_start_push_ticket_asks_wechat_with_the_secret(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    platform(wechat_fake, store).start_push_ticket()
    (request,) = wechat_fake.requests
    assert request.path == START_PUSH
    assert request.json() == {
        "component_appid": COMPONENT_APPID,
        "component_secret": COMPONENT_SECRET,
    }
    with pytest.raises(wo.InvalidComponentSecretError):
        wo.ComponentPlatform(
            COMPONENT_APPID, "wrong", refresh_tokens=store, base_url=wechat_fake.url
        ).start_push_ticket()


def test_processes_sharing_a_cache_share_the_ticket_and_every_token(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    cache = LocMemCache("component-shared", {})
    first, second = (
        platform(wechat_fake, store, cache=cache),
        platform(wechat_fake, store, cache=cache),
    )
    first.set_verify_ticket(wechat_fake.issue_ticket(component))  # only one process got the push
    assert second.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert first.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake) == [COMPONENT_TOKEN, AUTHORIZER_TOKEN, OPEN_GET, OPEN_GET]
    keys = " ".join(str(key) for key in cache._cache)  # what the cache holds, by key
    assert COMPONENT_APPID not in keys
    assert "wxshop" not in keys


def test_a_failing_cache_is_bypassed(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    from tests.test_call_path import BrokenCache

    tenant = platform(wechat_fake, store, cache=BrokenCache())
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))  # kept in memory
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"


def test_secrets_appear_in_no_repr_message_log_traceback_or_pickle(
    wechat_fake: FakeWeChat,
    component: Component,
    shop: Account,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cache = LocMemCache("component-secrets", {})
    tenant = platform(wechat_fake, store, cache=cache)
    ticket = wechat_fake.issue_ticket(component)
    tenant.set_verify_ticket(ticket)
    client = tenant.client("wxshop")
    client.get_open_account()
    secrets = [COMPONENT_SECRET, ticket, store.tokens["wxshop"]]
    secrets += [r.token for r in wechat_fake.requests if r.token]  # component, authorizer
    texts = [repr(tenant), repr(client), repr(tenant._component_token), repr(tenant._tickets)]
    texts += [repr(tenant._authorizer("wxshop")), repr(vars(tenant._authorizer("wxshop")))]

    wechat_fake.inject(
        Fault.api_error(61005, f"ticket {ticket} expired for {COMPONENT_SECRET}"),
        path=COMPONENT_TOKEN,
    )
    wechat_fake.inject(Fault.api_error(40001, "component token refused"), path=AUTHORIZER_TOKEN)
    wechat_fake.expire_authorizer_tokens(component, shop)
    errors = []
    for make in (
        lambda: tenant.client("wxshop"),
        lambda: platform(wechat_fake, Store()).client("x"),
    ):
        with pytest.raises(wo.WeChatError) as caught:
            make().get_open_account()
        errors.append(caught.value)
    for error in errors:
        texts += texts_of(error)
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_client_per_request_is_cheap_and_opens_no_connection(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    import tracemalloc

    tenant = platform(wechat_fake, store)
    appids = [f"wx{index:05d}" for index in range(1000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clients = [tenant.client(appid) for appid in appids]
    per_account = (tracemalloc.get_traced_memory()[0] - before) / len(clients)
    tracemalloc.stop()
    assert per_account <= 4096  # a derived client, and the account's token slot
    assert tenant.client(appids[0])._tokens is clients[0]._tokens  # one slot per account
    assert wechat_fake.connections == 0


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("", COMPONENT_SECRET), TypeError),
        ((COMPONENT_APPID, None), TypeError),
    ],
)
def test_bad_platform_arguments_are_refused(arguments: Any, error: Any) -> None:
    with pytest.raises(error):
        wo.ComponentPlatform(*arguments, refresh_tokens=Store())


@pytest.mark.parametrize(
    ("appid", "error"),
    [([], TypeError), ({}, TypeError), (None, TypeError), (5, TypeError), ("wx\ud800", ValueError)],
)
def test_a_bad_authorizer_appid_is_named(appid: Any, error: Any) -> None:
    tenant = wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=Store())
    with tenant, pytest.raises(error, match="authorizer_appid"):
        tenant.client(appid)


def test_bad_store_ticket_and_appid_are_refused() -> None:
    with pytest.raises(TypeError, match="refresh_tokens must have load"):
        wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=object())  # type: ignore[arg-type]
    tenant = wo.ComponentPlatform(COMPONENT_APPID, COMPONENT_SECRET, refresh_tokens=Store())
    with pytest.raises(TypeError, match="ticket must be a str"):
        tenant.set_verify_ticket(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="authorizer_appid must be a non-empty str"):
        tenant.client("")


def test_closing_the_platform_closes_every_client_it_made(
    wechat_fake: FakeWeChat, component: Component, store: Store
) -> None:
    with platform(wechat_fake, store) as tenant:
        client = tenant.client("wxshop")
    with pytest.raises(RuntimeError, match="closed"):
        client.get_open_account()
