"""Never losing an account: a refused (61023) or missing refresh token is looked up at WeChat
and saved, at most once per account per cool-off; an account that is gone costs no round
trip; all against the fake WeChat over real sockets."""

from __future__ import annotations

from typing import List

import pytest
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
from tests.platform_support import (
    AUTHORIZER_TOKEN,
    OPEN_GET,
    Store,
    paths,
    platform,
)
from wechat_openapi.platform._recovery import GONE_RECHECK, LOOKUP_COOLOFF, LOOKUP_FLOOR
from wechat_openapi.testing import Account, Component, FakeWeChat, Fault

AUTHORIZER_INFO = "/cgi-bin/component/api_get_authorizer_info"


class Clock:
    """The platform's clock, moved by hand (the fake keeps its own)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def since(fake: FakeWeChat, before: int) -> List[str]:
    return paths(fake)[before:]


def test_a_spent_refresh_token_is_recovered_saved_and_the_call_succeeds(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    spent = wechat_fake.authorize(component, shop)
    current = wechat_fake.authorize(component, shop)  # WeChat moved on; the store did not
    store = Store({"wxshop": spent})
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"

    assert since(wechat_fake, 1) == [AUTHORIZER_TOKEN, AUTHORIZER_INFO, AUTHORIZER_TOKEN, OPEN_GET]
    assert store.tokens["wxshop"] == current
    assert wechat_fake.requests[3].json()["authorizer_refresh_token"] == current


def test_a_cut_answer_after_a_rotation_then_a_normal_call_loses_nothing(
    wechat_fake: FakeWeChat, rotating: Component, shop: Account
) -> None:
    store = Store({"wxshop": wechat_fake.authorize(rotating, shop)})
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(rotating))
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)

    with pytest.raises(wo.TransportError):  # WeChat rotated; the answer never arrived
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake).count(AUTHORIZER_TOKEN) == 1  # not retried blindly

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1
    assert store.tokens["wxshop"] == rotating.authorizations["wxshop"].refresh_token


def test_a_missing_refresh_token_is_looked_up_and_saved(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    current = wechat_fake.authorize(component, shop)
    store = Store()  # the save of the first refresh token was lost
    tenant = platform(wechat_fake, store)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert since(wechat_fake, 1) == [AUTHORIZER_INFO, AUTHORIZER_TOKEN, OPEN_GET]
    assert store.tokens == {"wxshop": current}


def test_a_missing_refresh_token_of_an_unknown_account_is_remembered_as_gone(
    wechat_fake: FakeWeChat, component: Component
) -> None:
    tenant = platform(wechat_fake, Store())
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    for _ in range(3):
        with pytest.raises(wo.AuthorizationRevokedError, match="no longer authorized"):
            tenant.client("wxstranger").get_open_account()
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1
    assert AUTHORIZER_TOKEN not in paths(wechat_fake)


def test_a_revoked_account_is_looked_up_once_then_costs_no_round_trip_until_it_returns(
    wechat_fake: FakeWeChat, component: Component, shop: Account, store: Store
) -> None:
    clock = Clock()
    tenant = platform(wechat_fake, store, clock=clock)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    tenant.client("wxshop").get_open_account()
    wechat_fake.revoke(component, shop)

    before = len(wechat_fake.requests)
    with pytest.raises(wo.AuthorizationRevokedError) as caught:
        tenant.client("wxshop").get_open_account()
    # The refused token, one refresh WeChat refuses, one lookup that says 61003: no loop.
    assert since(wechat_fake, before) == [OPEN_GET, AUTHORIZER_TOKEN, AUTHORIZER_INFO]
    assert isinstance(caught.value, wo.ComponentNotAuthorizedError)
    assert "authorize again" in str(caught.value)

    before = len(wechat_fake.requests)
    for _ in range(5):
        with pytest.raises(wo.AuthorizationRevokedError):
            tenant.client("wxshop").get_open_account()
    clock.now += GONE_RECHECK  # the store is read again, and still holds the old token
    with pytest.raises(wo.AuthorizationRevokedError):
        tenant.client("wxshop").get_open_account()
    assert len(wechat_fake.requests) == before  # nothing sent

    store.tokens["wxshop"] = wechat_fake.authorize(component, shop)  # authorized again
    with pytest.raises(wo.AuthorizationRevokedError):  # not before the next look
        tenant.client("wxshop").get_open_account()
    clock.now += GONE_RECHECK
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"


def test_lookups_are_rate_limited_per_account_across_processes(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    spent = wechat_fake.authorize(component, shop)
    current = wechat_fake.authorize(component, shop)
    store = Store({"wxshop": spent})
    cache = LocMemCache("recovery-lookups", {})
    clock = Clock()
    first = platform(wechat_fake, store, cache=cache, clock=clock)
    second = platform(wechat_fake, store, cache=cache, clock=clock)  # another process
    first.set_verify_ticket(wechat_fake.issue_ticket(component))

    assert first.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1
    assert store.tokens["wxshop"] == current

    store.tokens["wxshop"] = spent  # lost again (a restored backup)
    cache.delete(first._authorizer("wxshop")._token_key)  # and the token expired
    with pytest.raises(wo.RefreshTokenInvalidError):
        second.client("wxshop").get_open_account()  # within the first one's cool-off
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1

    cache.clear()  # the cool-off's key expired
    clock.now += LOOKUP_COOLOFF
    assert second.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 2
    assert store.tokens["wxshop"] == current


def test_a_refused_refresh_token_with_nothing_better_at_wechat_is_61023_then_local(
    wechat_fake: FakeWeChat, component: Component, shop: Account
) -> None:
    """When the lookup may not run (another looked up within the cool-off) and the store has
    nothing newer, 61023 is raised, and again at once for the same refresh token."""
    store = Store({"wxshop": "refreshtoken@@@unknown"})
    wechat_fake.authorize(component, shop)
    clock = Clock()
    tenant = platform(wechat_fake, store, clock=clock)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(component))
    tenant._authorizer("wxshop").recovery._may_look_up("refreshtoken@@@unknown")

    with pytest.raises(wo.RefreshTokenInvalidError) as caught:
        tenant.client("wxshop").get_open_account()
    assert "api_get_authorizer_info" in str(caught.value)
    before = len(wechat_fake.requests)
    with pytest.raises(wo.RefreshTokenInvalidError):
        tenant.client("wxshop").get_open_account()
    assert len(wechat_fake.requests) == before


def test_a_recovered_token_whose_answer_is_cut_too_is_looked_up_again_after_the_floor(
    wechat_fake: FakeWeChat, rotating: Component, shop: Account
) -> None:
    """Cut, then a refusal whose recovered token's answer is cut again: WeChat rotated twice.
    The second refusal is of another token, so it is looked up again within seconds, not
    after the cool-off (found in the gunicorn trial: accounts were out for minutes)."""
    store = Store({"wxshop": wechat_fake.authorize(rotating, shop)})
    clock = Clock()
    tenant = platform(wechat_fake, store, clock=clock)
    tenant.set_verify_ticket(wechat_fake.issue_ticket(rotating))
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)
    with pytest.raises(wo.TransportError):
        tenant.client("wxshop").get_open_account()  # R1 spent at WeChat, R2 lost in flight

    wechat_fake.inject(Fault.api_error(61023, "refresh_token is invalid"), path=AUTHORIZER_TOKEN)
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)
    with pytest.raises(wo.TransportError):
        tenant.client("wxshop").get_open_account()  # R1 refused, R2 found and saved, cut
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1

    with pytest.raises(wo.RefreshTokenInvalidError):  # R2 refused within the floor
        tenant.client("wxshop").get_open_account()
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1
    clock.now += LOOKUP_FLOOR
    assert tenant.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 2
    assert store.tokens["wxshop"] == rotating.authorizations["wxshop"].refresh_token


def test_a_lookup_another_process_made_does_not_stop_this_one_after_the_floor(
    wechat_fake: FakeWeChat, rotating: Component, shop: Account
) -> None:
    """Process A recovers R2 and its answer is cut (WeChat moved to R3); B sees R2 refused
    within A's floor and may not look up then, but may once the floor has passed (found in
    the gunicorn trial: B remembered a lookup it never made, for 5 minutes)."""
    store = Store({"wxshop": wechat_fake.authorize(rotating, shop)})
    cache = LocMemCache("lookup-floor", {})
    clock = Clock()
    first = platform(wechat_fake, store, cache=cache, clock=clock)
    second = platform(wechat_fake, store, cache=cache, clock=clock)
    first.set_verify_ticket(wechat_fake.issue_ticket(rotating))
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)
    with pytest.raises(wo.TransportError):
        first.client("wxshop").get_open_account()
    wechat_fake.inject(Fault.api_error(61023, "refresh_token is invalid"), path=AUTHORIZER_TOKEN)
    wechat_fake.inject(Fault.cut(10), path=AUTHORIZER_TOKEN)
    with pytest.raises(wo.TransportError):
        first.client("wxshop").get_open_account()  # R1 refused, R2 looked up, its answer cut

    with pytest.raises(wo.RefreshTokenInvalidError):
        second.client("wxshop").get_open_account()  # R2 refused within A's floor
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 1

    recovery = second._authorizer("wxshop").recovery
    cache.delete(f"{recovery._lookup_key}:floor")  # the floor's key expires...
    clock.now += LOOKUP_FLOOR  # ...as the floor passes
    assert second.client("wxshop").get_open_account().open_appid == "wxopen-shop"
    assert paths(wechat_fake).count(AUTHORIZER_INFO) == 2
