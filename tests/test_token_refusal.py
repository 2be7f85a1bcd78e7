"""After WeChat refuses a token: only a newer one replaces it, and a forced refresh happens
only when needed, one at a time. The outage test hangs a real Redis server (SIGSTOP); the
stall tests stall the fake's stable_token over real sockets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, List

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

import wechat_openapi as wo
from tests.conftest import call_context
from tests.redis_support import RedisServer
from wechat_openapi import _shared_cache
from wechat_openapi.testing import TOKEN_LIFETIME, Account, FakeWeChat, Fault

STABLE = "/cgi-bin/stable_token"
OPEN_GET = "/cgi-bin/open/get"
APPID = "wxREFUSALAPPID00001"
SECRET = "refusal-secret-0123456789abcdef"


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")


def forced(fake: FakeWeChat) -> int:
    return sum(bool(r.json().get("force_refresh")) for r in fake.requests if r.path == STABLE)


def stable_fetches(fake: FakeWeChat) -> List[bool]:
    return [bool(r.json().get("force_refresh")) for r in fake.requests if r.path == STABLE]


def normal_answer(token: str) -> Fault:
    """What stable_token's normal mode answers while ``token`` is live."""
    body = json.dumps({"access_token": token, "expires_in": TOKEN_LIFETIME}).encode()
    return Fault.respond(200, body)


def new_cache() -> LocMemCache:
    return LocMemCache(f"refusal-test-{uuid.uuid4()}", {})


# A newer token, never just a different one -------------------------------------------------


def test_after_a_cache_outage_no_older_token_comes_back_from_the_cache(
    redis_server: RedisServer,
    wechat_fake: FakeWeChat,
    shop: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cache goes down while the process refreshes, so its newer token stays in memory;
    the cache comes back still holding the older, dead one. At the next refusal that older
    token must not be taken (it was, for being *different* from the refused one)."""
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 0.2)
    options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    cache = RedisCache(redis_server.url, {"OPTIONS": options})
    client = wo.Client.from_stable_token(APPID, SECRET, cache=cache, base_url=wechat_fake.url)
    assert client.get_open_account().open_appid == "wxopen"
    first = shop.token  # shared through Redis
    with redis_server.hung():
        wechat_fake.state.expire_tokens([first])  # 42001; normal mode now issues the next
        assert client.get_open_account().open_appid == "wxopen"
        second = shop.token
        assert second != first
    key = client._tokens._token_key  # type: ignore[attr-defined]
    assert cache.get(key)["access_token"] == first  # back, with the older token in it
    time.sleep(0.2 * (1 + _shared_cache.COOL_OFF_JITTER))  # at least the cool-off
    wechat_fake.clear()

    wechat_fake.state.expire_tokens([second])
    assert client.get_open_account().open_appid == "wxopen"

    sent = [r.token for r in wechat_fake.requests if r.path == OPEN_GET]
    assert sent == [second, shop.token]  # never the older token
    assert cache.get(key)["access_token"] == shop.token  # the cache was used again
    client.close()


def test_a_token_cached_after_the_refusal_replaces_the_refused_one_without_a_fetch(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    """The process that waited while another fetched takes that fetch's token."""
    now = [1_000_000.0]
    cache = new_cache()
    tokens = wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0])
    refused = tokens.get_token(call_context(wechat_fake.url))
    issued = {"access_token": "THEIRS", "use_until": now[0] + 7000}
    cache.set(tokens._token_key, {**issued, "issued": now[0] + 1, "confirmed": now[0] + 1}, None)

    assert tokens.refresh(refused, call_context(wechat_fake.url)) == "THEIRS"
    assert stable_fetches(wechat_fake) == [False]  # the first fetch only


def test_a_newer_token_cached_before_the_refusal_is_confirmed_by_a_normal_fetch(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    ours = wo.Client.from_stable_token(APPID, SECRET, cache=cache, base_url=wechat_fake.url)
    theirs = wo.Client.from_stable_token(APPID, SECRET, cache=cache, base_url=wechat_fake.url)
    ours.get_open_account()
    theirs.get_open_account()
    refused = shop.token
    wechat_fake.state.expire_tokens([refused])
    assert theirs.get_open_account().open_appid == "wxopen"  # refreshed: stored in the cache
    wechat_fake.clear()

    assert ours.get_open_account().open_appid == "wxopen"
    assert [r.path for r in wechat_fake.requests] == [OPEN_GET, STABLE, OPEN_GET]
    assert stable_fetches(wechat_fake) == [False]  # normal mode: the same live token
    assert wechat_fake.requests[2].token == shop.token != refused


def test_a_newer_cached_token_wechat_has_not_handed_out_lately_is_not_trusted_after_a_refusal(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    """What killed the refused token (a revocation, every token of the account expired) may
    have killed the newer one in the cache too: only a token WeChat handed out moments ago is
    taken on trust; an older one is checked by a fetch."""
    now = [1_000_000.0]
    cache = new_cache()
    ours, theirs = (
        wo.Client(
            token_provider=wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0]),
            base_url=wechat_fake.url,
        )
        for _ in range(2)
    )
    ours.get_open_account()
    theirs.get_open_account()
    wechat_fake.expire_tokens(shop)
    now[0] += 1
    assert theirs.get_open_account().open_appid == "wxopen"  # refreshed into the cache
    newer = shop.token
    now[0] += 30
    wechat_fake.expire_tokens(shop)  # every token of the account, the newer one too
    wechat_fake.clear()

    assert ours.get_open_account().open_appid == "wxopen"
    sent = [r.token for r in wechat_fake.requests if r.path == OPEN_GET]
    assert newer not in sent  # not tried on trust: fetched instead
    assert stable_fetches(wechat_fake) == [False]


def test_an_expired_token_is_not_replaced_by_an_older_one_from_the_cache(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    now = [1_000_000.0]
    cache = new_cache()
    tokens = wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0])
    ours = tokens.get_token(call_context(wechat_fake.url))
    older = {"access_token": "OLDER", "use_until": now[0] + 10 * TOKEN_LIFETIME, "issued": 1.0}
    cache.set(tokens._token_key, older, None)  # e.g. stored by a process on a slow clock
    now[0] += TOKEN_LIFETIME  # ours is due again

    assert tokens.get_token(call_context(wechat_fake.url)) == ours  # fetched: still live
    assert stable_fetches(wechat_fake) == [False, False]
    assert cache.get(tokens._token_key)["access_token"] == ours


def test_a_token_normal_mode_hands_out_again_keeps_the_time_it_was_first_obtained(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    now = [1_000_000.0]
    cache = new_cache()
    first = wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0])
    token = first.get_token(call_context(wechat_fake.url))
    issued = cache.get(first._token_key)["issued"]
    now[0] += TOKEN_LIFETIME  # due again everywhere; WeChat still hands out the same token
    second = wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0])
    assert second.get_token(call_context(wechat_fake.url)) == token
    assert stable_fetches(wechat_fake) == [False, False]
    assert cache.get(first._token_key)["issued"] == issued == 1_000_000.0


def test_a_cached_token_without_a_first_time_is_taken_as_the_oldest(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    """A value stored by an older release (no "issued") is used by a fresh process, but never
    in place of a refused token."""
    cache = new_cache()
    tokens = wo.StableTokenProvider(APPID, SECRET, cache=cache)
    cache.set(tokens._token_key, {"access_token": "LEGACY", "use_until": 4e9}, None)
    assert tokens.get_token(call_context(wechat_fake.url)) == "LEGACY"
    assert tokens.refresh("LEGACY", call_context(wechat_fake.url)) == shop.token
    assert stable_fetches(wechat_fake) == [False]


# Forcing only when needed, one at a time -----------------------------------------------------


def test_an_abandoned_forced_refresh_is_not_repeated_within_its_cool_off(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    now = [1_000_000.0]
    tokens = wo.StableTokenProvider(APPID, SECRET, clock=lambda: now[0])
    client = wo.Client(token_provider=tokens, base_url=wechat_fake.url, deadline=1.0)
    client.get_open_account()
    wechat_fake.refuse_token(shop)  # normal mode goes on handing it out

    refused = shop.token
    stall_ends = time.monotonic() + 4
    wechat_fake.stall(STABLE, 4, where={"force_refresh": True})
    with pytest.raises(wo.RequestTimeoutError):
        client.get_open_account()  # normal mode, then a forced refresh that stalls
    for _ in range(3):
        with pytest.raises(wo.InvalidCredentialError):  # WeChat's refusal, not another force
            client.get_open_account()
    assert stable_fetches(wechat_fake) == [False, False, True, False, False, False]

    # The stalled refresh is answered when the stall ends: WeChat rotated all the same, and
    # normal mode picks the new token up, with no second force.
    give_up = time.monotonic() + 30
    while shop.token == refused or time.monotonic() < stall_ends:
        assert time.monotonic() < give_up, "the stalled refresh was never answered"
        time.sleep(0.05)
    assert client.get_open_account().open_appid == "wxopen"  # the first call after it
    assert stable_fetches(wechat_fake)[-1:] == [False]

    wechat_fake.refuse_token(shop)  # refused again, once the cool-off is over: forced again
    now[0] += _shared_cache.FORCE_COOL_OFF
    assert client.get_open_account().open_appid == "wxopen"
    assert stable_fetches(wechat_fake)[-2:] == [False, True]
    assert sum(stable_fetches(wechat_fake)) == 2


def test_a_forced_refresh_claimed_by_another_process_is_not_repeated(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    tokens = wo.StableTokenProvider(APPID, SECRET, cache=cache)
    client = wo.Client(token_provider=tokens, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.refuse_token(shop)
    cache.add(tokens._force_key, "another process", 60)  # its forced refresh is in flight

    with pytest.raises(wo.InvalidCredentialError):
        client.get_open_account()
    assert stable_fetches(wechat_fake) == [False, False]


def test_a_forced_refresh_wechat_refused_frees_its_claim(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    tokens = wo.StableTokenProvider(APPID, SECRET, cache=cache)
    client = wo.Client(token_provider=tokens, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.refuse_token(shop)
    wechat_fake.inject(normal_answer(shop.token), path=STABLE)
    wechat_fake.inject(Fault.api_error(45009, "reach max api daily quota limit"), path=STABLE)

    with pytest.raises(wo.StableTokenQuotaExceededError):
        client.get_open_account()
    assert cache.get(tokens._force_key) is None  # WeChat answered: nothing was rotated
    assert client.get_open_account().open_appid == "wxopen"
    assert stable_fetches(wechat_fake) == [False, False, True, False, True]


def test_a_source_without_a_forced_mode_is_asked_once_after_a_refusal(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    """The component and authorizer tokens have no forced mode: a refusal costs one fetch."""

    fetched: List[bool] = []

    class Plain(_shared_cache.SharedToken):
        def _fetch(self, force: bool, call: Any) -> Any:
            fetched.append(force)
            return ("SAME", 7200)

    plain = Plain(cache=None, key="k", label="a test token")
    assert plain.get_token(call_context(wechat_fake.url)) == "SAME"
    assert plain.refresh("SAME", call_context(wechat_fake.url)) == "SAME"
    assert fetched == [False, False]
