"""stable_token: the fake's semantics, and StableTokenProvider's caching, single flight,
refresh-once rule, errors and shared cache (the multi-process Redis test is in
test_shared_token_redis.py)."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
import uuid
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
import wechat_openapi.tokens as tokens_module
from tests.conftest import call_context, run_in_threads
from wechat_openapi import StableTokenProvider
from wechat_openapi.testing import TOKEN_LIFETIME, TOKEN_OVERLAP, Account, FakeWeChat, Fault

STABLE = "/cgi-bin/stable_token"
APPID = "wxSENTINELAPPID0001"
SECRET = "SENTINELSECRET" + "0123456789abcdef"


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")


def stable_calls(fake: FakeWeChat) -> List[Dict[str, Any]]:
    return [request.json() for request in fake.requests if request.path == STABLE]


def provider(fake: FakeWeChat, **options: Any) -> StableTokenProvider:
    return StableTokenProvider(APPID, SECRET, **options)


def get(tokens: StableTokenProvider, fake: FakeWeChat) -> str:
    """What a call against ``fake`` would get from ``tokens`` (on its own transport)."""
    return tokens.get_token(call_context(fake.url))


def refresh(tokens: StableTokenProvider, fake: FakeWeChat, failed: str) -> str:
    return tokens.refresh(failed, call_context(fake.url))


def new_cache() -> LocMemCache:
    """A fresh in-memory Django cache (LocMemCaches of the same name share their data)."""
    return LocMemCache(f"stable-token-test-{uuid.uuid4()}", {})


# The fake's stable_token ------------------------------------------------------------------


def test_normal_mode_returns_the_live_token(wechat_fake: FakeWeChat, shop: Account) -> None:
    first, second = provider(wechat_fake), provider(wechat_fake)
    assert get(first, wechat_fake) == get(second, wechat_fake) == shop.token
    assert len(stable_calls(wechat_fake)) == 2


def test_force_refresh_rotates_and_the_old_token_works_5_more_minutes(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    old = shop.token
    tokens = provider(wechat_fake)
    new = refresh(tokens, wechat_fake, old)  # the only path that forces

    assert new != old
    assert stable_calls(wechat_fake)[-1]["force_refresh"] is True
    old_client = wechat_fake.client(Account(APPID, old), max_retries=0)
    wechat_fake.advance(TOKEN_OVERLAP - 5)
    assert old_client.get_open_account().open_appid == "wxopen"
    wechat_fake.advance(10)
    with pytest.raises(wo.AccessTokenExpiredError):
        old_client.get_open_account()
    assert wechat_fake.client(shop).get_open_account().open_appid == "wxopen"


def test_normal_mode_issues_the_next_token_in_the_last_5_minutes(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    issued = refresh(
        provider(wechat_fake), wechat_fake, shop.token
    )  # a token with a known lifetime
    wechat_fake.advance(TOKEN_LIFETIME - 100)
    assert get(provider(wechat_fake), wechat_fake) != issued
    wechat_fake.advance(50)
    assert wechat_fake.client(Account(APPID, issued)).get_open_account().open_appid == "wxopen"


@pytest.mark.parametrize(
    ("appid", "secret", "error_class", "general_class"),
    [
        (APPID, "wrong", wo.InvalidAppSecretError, wo.StableTokenError),
        ("wxunknown", SECRET, wo.StableTokenInvalidAppIdError, wo.InvalidAppIdError),
    ],
)
def test_a_wrong_secret_or_appid_is_refused(
    wechat_fake: FakeWeChat,
    shop: Account,
    appid: str,
    secret: str,
    error_class: Any,
    general_class: Any,
) -> None:
    with pytest.raises(error_class) as caught:
        get(StableTokenProvider(appid, secret), wechat_fake)
    assert isinstance(caught.value, general_class)
    assert caught.value.path == STABLE
    assert caught.value.rid in wechat_fake.rids


def test_a_bad_grant_type_is_a_plain_stable_token_error(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    import requests

    answer = requests.post(f"{wechat_fake.url}{STABLE}", json={"appid": APPID}, timeout=5).json()
    assert answer["errcode"] == 40002
    assert type(wo.errors.api_error(40002, answer["errmsg"], STABLE)) is wo.StableTokenError
    assert type(wo.errors.api_error(40001, answer["errmsg"], STABLE)) is wo.StableTokenError


# The provider -------------------------------------------------------------------------------


def test_the_token_is_cached_until_expires_in_minus_the_margin(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    now = [1_000_000.0]
    tokens = provider(wechat_fake, margin=300, clock=lambda: now[0])
    get(tokens, wechat_fake)
    now[0] += TOKEN_LIFETIME - 301
    get(tokens, wechat_fake)
    assert len(stable_calls(wechat_fake)) == 1
    now[0] += 2
    get(tokens, wechat_fake)
    assert len(stable_calls(wechat_fake)) == 2


def test_a_short_lived_token_is_still_used_for_half_its_life(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    wechat_fake.inject(Fault.respond(200, b'{"access_token": "short", "expires_in": 200}'))
    now = [0.0]
    tokens = provider(wechat_fake, margin=300, clock=lambda: now[0])
    assert get(tokens, wechat_fake) == "short"
    now[0] = 99
    assert get(tokens, wechat_fake) == "short"
    assert len(stable_calls(wechat_fake)) == 1


def test_20_threads_with_an_empty_cache_cause_one_call(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    tokens = provider(wechat_fake)
    assert run_in_threads(20, lambda _: get(tokens, wechat_fake)) == [shop.token] * 20
    assert len(stable_calls(wechat_fake)) == 1


def test_a_refused_token_is_replaced_by_the_normal_mode_answer_without_forcing(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.rotate_token(shop)  # rotated elsewhere: the held token now gets 42001

    assert client.get_open_account().open_appid == "wxopen"
    assert [call.get("force_refresh", False) for call in stable_calls(wechat_fake)] == [False] * 2
    client.close()


def test_a_refused_token_that_normal_mode_still_returns_is_force_refreshed_once(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.refuse_token(shop)

    assert client.get_open_account().open_appid == "wxopen"
    flags = [call.get("force_refresh", False) for call in stable_calls(wechat_fake)]
    assert flags == [False, False, True]
    client.close()


def test_a_token_refused_again_after_the_forced_refresh_is_an_error(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    wechat_fake.inject(
        Fault.api_error(40001, "invalid credential"), times=5, path="/cgi-bin/open/get"
    )
    with pytest.raises(wo.InvalidCredentialError):
        client.get_open_account()
    api_calls = [r for r in wechat_fake.requests if r.path == "/cgi-bin/open/get"]
    assert len(api_calls) == 2
    flags = [call.get("force_refresh", False) for call in stable_calls(wechat_fake)]
    assert flags == [False, False, True]  # normal mode handed out the refused token again


def test_no_forced_refresh_when_another_caller_already_refreshed(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    tokens = provider(wechat_fake)
    stale = get(tokens, wechat_fake)
    fresh = refresh(tokens, wechat_fake, stale)  # normal mode, then forced
    assert (
        refresh(tokens, wechat_fake, stale) == fresh
    )  # a second caller with the same refused token
    assert len(stable_calls(wechat_fake)) == 3


def test_20_threads_refused_with_the_same_token_cause_one_fetch_and_no_forced_refresh(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.rotate_token(shop)
    results = run_in_threads(20, lambda _: client.get_open_account().open_appid)
    assert results == ["wxopen"] * 20
    assert [call.get("force_refresh", False) for call in stable_calls(wechat_fake)] == [False] * 2


def test_20_threads_refused_with_a_token_normal_mode_still_returns_cause_one_forced_refresh(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url)
    client.get_open_account()
    wechat_fake.refuse_token(shop)
    results = run_in_threads(20, lambda _: client.get_open_account().open_appid)
    assert results == ["wxopen"] * 20
    flags = [call.get("force_refresh", False) for call in stable_calls(wechat_fake)]
    assert flags == [False, False, True]


def test_a_busy_answer_is_retried_in_normal_mode_but_not_when_forcing(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    tokens = provider(wechat_fake)
    wechat_fake.inject(Fault.system_busy(), path=STABLE)
    held = get(tokens, wechat_fake)
    assert len(stable_calls(wechat_fake)) == 2

    # Normal mode hands out the refused token again, so the refresh is forced: busy, raised.
    again = json.dumps({"access_token": held, "expires_in": 7200}).encode()
    wechat_fake.inject(Fault.respond(200, again), path=STABLE)
    wechat_fake.inject(Fault.system_busy(), path=STABLE)
    with pytest.raises(wo.StableTokenBusyError) as caught:
        refresh(tokens, wechat_fake, held)
    assert isinstance(caught.value, wo.SystemBusyError)
    assert [call.get("force_refresh", False) for call in stable_calls(wechat_fake)] == [
        False,
        False,
        False,
        True,
    ]


@pytest.mark.parametrize(
    "body",
    [b'{"expires_in": 7200}', b'{"access_token": "t"}', b'{"access_token": "t", "expires_in": 0}'],
)
def test_an_unusable_answer_is_an_invalid_response(
    wechat_fake: FakeWeChat, shop: Account, body: bytes
) -> None:
    wechat_fake.inject(Fault.respond(200, body))
    with pytest.raises(wo.InvalidResponseError, match="StableToken answer") as caught:
        get(provider(wechat_fake), wechat_fake)
    assert caught.value.path == STABLE


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"appid": ""}, TypeError),
        ({"secret": None}, TypeError),
        ({"margin": -1}, ValueError),
    ],
)
def test_bad_options_are_refused(options: Dict[str, Any], error: Any) -> None:
    arguments: Dict[str, Any] = {"appid": APPID, "secret": SECRET, **options}
    with pytest.raises(error):
        StableTokenProvider(arguments.pop("appid"), arguments.pop("secret"), **arguments)


def test_appid_and_secret_appear_in_no_repr_message_or_log(
    wechat_fake: FakeWeChat, shop: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = StableTokenProvider(APPID, SECRET, cache=new_cache())
    texts = [repr(tokens)]
    get(tokens, wechat_fake)
    for fault in [
        Fault.api_error(40125, f"invalid appsecret {SECRET} for {APPID}"),
        Fault.respond(200, f"<html>{APPID} {SECRET}</html>".encode()),
        Fault.respond(502, b"bad gateway"),
    ]:
        wechat_fake.inject(fault, path=STABLE, times=3)  # every attempt of a normal fetch
        with pytest.raises(wo.WeChatError) as caught:
            refresh(tokens, wechat_fake, get(tokens, wechat_fake))
        error = caught.value
        texts += [str(error), repr(error), repr(vars(error))]
        texts.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        texts.append(repr(pickle.loads(pickle.dumps(error)).args))
    with pytest.raises(wo.TransportError) as refused:
        StableTokenProvider(APPID, SECRET).get_token(
            call_context("http://127.0.0.1:1", max_retries=0)
        )
    texts.append(str(refused.value))
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert APPID not in text
        assert SECRET not in text


def test_a_forked_child_gets_a_fresh_lock(wechat_fake: FakeWeChat) -> None:
    tokens = provider(wechat_fake)
    tokens._lock.acquire()
    tokens.after_fork_in_child()
    assert tokens._lock.acquire(blocking=False)


def test_the_token_fetch_rides_the_calls_connection_and_user_agent(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    client = wo.Client.from_stable_token(
        APPID, SECRET, base_url=wechat_fake.url, user_agent="shop/1.0"
    )
    assert client.get_open_account().open_appid == "wxopen"
    fetch, call = wechat_fake.requests
    assert (fetch.path, call.path) == (STABLE, "/cgi-bin/open/get")
    assert fetch.connection == call.connection
    assert fetch.headers["user-agent"] == call.headers["user-agent"] == "shop/1.0"
    assert wechat_fake.connections == 1


# The shared cache (in one process; the multi-process test uses real Redis) ---------------------


def test_processes_sharing_a_cache_share_one_token(wechat_fake: FakeWeChat, shop: Account) -> None:
    cache = new_cache()
    first, second = provider(wechat_fake, cache=cache), provider(wechat_fake, cache=cache)
    assert get(first, wechat_fake) == get(second, wechat_fake)
    assert len(stable_calls(wechat_fake)) == 1


def test_a_refresh_made_elsewhere_is_adopted_without_forcing_again(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    first, second = provider(wechat_fake, cache=cache), provider(wechat_fake, cache=cache)
    stale = get(first, wechat_fake)
    assert get(second, wechat_fake) == stale
    fresh = refresh(first, wechat_fake, stale)
    assert refresh(second, wechat_fake, stale) == fresh
    flags = [call.get("force_refresh", False) for call in stable_calls(wechat_fake)]
    assert flags == [False, False, True, False]  # confirmed by normal mode, not forced


class AddGetSetOnly:
    """A cache with only get, set and add: the lock is never deleted, only expires."""

    def __init__(self) -> None:
        self.inner = new_cache()

    def get(self, key: str, default: Any = None) -> Any:
        return self.inner.get(key, default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self.inner.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: Any = None) -> bool:
        return bool(self.inner.add(key, value, timeout))


def test_a_cache_without_delete_works(wechat_fake: FakeWeChat, shop: Account) -> None:
    cache = AddGetSetOnly()
    assert get(provider(wechat_fake, cache=cache), wechat_fake) == shop.token
    assert get(provider(wechat_fake, cache=cache), wechat_fake) == shop.token
    assert len(stable_calls(wechat_fake)) == 1


def test_a_crashed_lock_holder_blocks_the_others_only_until_its_lock_expires(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    tokens = provider(wechat_fake, cache=cache)
    cache.add(tokens._lock_key, "a process that died holding it", 1)
    waited: List[float] = []
    tokens.sleep = waited.append  # let the test's clock stand still: no real waiting

    real_add = cache.add

    def add_after_a_few_tries(key: str, value: Any, timeout: Any = None) -> bool:
        if len(waited) >= 5:
            cache.delete(key)  # what expiry does to the dead holder's lock
        return bool(real_add(key, value, timeout))

    cache.add = add_after_a_few_tries  # type: ignore[method-assign]
    assert get(tokens, wechat_fake) == shop.token
    assert len(waited) == 5
    assert len(stable_calls(wechat_fake)) == 1


def test_a_waiter_gives_up_at_its_calls_deadline_when_the_lock_is_never_freed(
    wechat_fake: FakeWeChat, shop: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NeverFree(AddGetSetOnly):
        def add(self, key: str, value: Any, timeout: Any = None) -> bool:
            return False

    tokens = provider(wechat_fake, cache=NeverFree())
    clock = [0.0]  # seconds the test's clock runs ahead of the real one
    real = tokens_module.time
    monkeypatch.setattr(
        tokens_module,
        "time",
        SimpleNamespace(monotonic=lambda: real.monotonic() + clock[0], time=real.time),
    )
    tokens.sleep = lambda seconds: clock.__setitem__(0, clock[0] + seconds)
    with pytest.raises(wo.RequestTimeoutError, match="another process was fetching"):
        tokens.get_token(call_context(wechat_fake.url, deadline=3))
    assert clock[0] == pytest.approx(3, abs=0.1)
    assert stable_calls(wechat_fake) == []


def test_a_malformed_shared_value_is_ignored(wechat_fake: FakeWeChat, shop: Account) -> None:
    cache = new_cache()
    tokens = provider(wechat_fake, cache=cache)
    for junk in ["not a dict", {"access_token": 5, "use_until": "x"}]:
        cache.set(tokens._token_key, junk, 60)
        tokens._held = None
        assert get(tokens, wechat_fake) == shop.token
    assert APPID not in tokens._token_key


def test_the_protocol_accepts_a_provider_object(wechat_fake: FakeWeChat, shop: Account) -> None:
    class Rotating:
        def __init__(self) -> None:
            self.refreshed: List[str] = []

        def get_token(self, call: wo.CallContext) -> str:
            return "not-valid"

        def refresh(self, failed_token: str, call: wo.CallContext) -> str:
            self.refreshed.append(failed_token)
            return shop.token

    tokens = Rotating()
    client = wo.Client(token_provider=tokens, base_url=wechat_fake.url)
    assert client.get_open_account().open_appid == "wxopen"
    assert tokens.refreshed == ["not-valid"]


def test_a_token_stored_while_taking_the_lock_is_used_without_a_fetch(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    cache = new_cache()
    tokens = provider(wechat_fake, cache=cache)
    real_add = cache.add

    def add_as_another_process_finishes(key: str, value: Any, timeout: Any = None) -> bool:
        cache.set(tokens._token_key, {"access_token": "theirs", "use_until": 4e9}, 60)
        return bool(real_add(key, value, timeout))

    cache.add = add_as_another_process_finishes  # type: ignore[method-assign]
    assert get(tokens, wechat_fake) == "theirs"
    assert stable_calls(wechat_fake) == []
    assert cache.get(tokens._lock_key) is None  # the lock was released
