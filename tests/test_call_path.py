"""One call path for every token owner: the deadline covers the token, token sources fail as
WeChatErrors, masking goes by shape, derived clients share one pool, and the fast path steps
aside for proxies and mocks. Against the fake over real sockets unless said otherwise."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, List

import pytest
import requests
import responses
from django.core.cache.backends.locmem import LocMemCache

import wechat_openapi as wo
from tests.conftest import MOCK_BASE, TOKEN, MakeClient, call_context, run_in_threads
from tests.test_transport import refused_url
from wechat_openapi.testing import Account, FakeWeChat, Fault

STABLE = "/cgi-bin/stable_token"
OPEN_GET = "/cgi-bin/open/get"
APPID, SECRET = "wxcallpath0000001", "call-path-secret-0123456789abcdef"


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")


def paths(fake: FakeWeChat) -> List[str]:
    return [request.path for request in fake.requests]


# The deadline covers the token ------------------------------------------------------------


def test_a_stalled_token_endpoint_ends_the_call_at_its_deadline(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    wechat_fake.inject(Fault.delay(60), times=10, path=STABLE)
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url, deadline=3)
    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="deadline of 3s passed"):
        client.get_open_account()
    assert time.monotonic() - started < 2 * 3  # the fetch alone would wait 60 s
    assert paths(wechat_fake) == [STABLE]  # one fetch in flight, no retry past the deadline


def test_a_thread_waiting_for_another_threads_fetch_gives_up_at_its_deadline(
    shop: Account,
) -> None:
    provider = wo.StableTokenProvider(APPID, SECRET)
    provider._lock.acquire()  # another thread is fetching, and slowly
    try:
        started = time.monotonic()
        with pytest.raises(wo.RequestTimeoutError, match="another thread was fetching"):
            provider.get_token(call_context(deadline=0.5))
        assert 0.4 <= time.monotonic() - started < 10 * 0.5  # the lock is never released
    finally:
        provider._lock.release()


class RecordingCache(LocMemCache):
    """An in-memory Django cache that records each ``add`` (the shared lock)."""

    def __init__(self) -> None:
        super().__init__(f"call-path-{id(self)}", {})
        self.adds: List[Any] = []

    def add(self, key: str, value: Any, timeout: Any = None, version: Any = None) -> bool:
        self.adds.append(timeout)
        return bool(super().add(key, value, timeout, version))


@pytest.mark.parametrize("deadline", [3, 20, 45.5])
def test_the_shared_lock_outlives_the_longest_fetch_it_covers(
    wechat_fake: FakeWeChat, shop: Account, deadline: float
) -> None:
    cache = RecordingCache()
    client = wo.Client.from_stable_token(
        APPID, SECRET, cache=cache, base_url=wechat_fake.url, deadline=deadline
    )
    assert client.get_open_account().open_appid == "wxopen"
    (lock_lifetime,) = cache.adds
    assert deadline < lock_lifetime <= deadline + 2  # the holder's whole call, and a second


# Token sources fail as WeChatErrors -----------------------------------------------------------


@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_token_cache_raises_token_unavailable_and_sends_nothing(
    wechat_fake: FakeWeChat, shop: Account, empty: Any
) -> None:
    cache: Dict[str, Any] = {"wechat:access_token": empty}
    client = wo.Client(
        token_provider=lambda: cache.get("wechat:access_token"), base_url=wechat_fake.url
    )
    with pytest.raises(wo.TokenUnavailableError, match=r"returned (None|an empty str)"):
        client.get_open_account()
    assert wechat_fake.requests == []
    assert wechat_fake.connections == 0


class BrokenCache:
    """A cache whose every method raises, as Django's Redis cache does with Redis down."""

    def __init__(self) -> None:
        self.calls = 0

    def _down(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    get = set = add = delete = _down


def test_a_cache_that_raises_is_bypassed_and_logged_once(
    wechat_fake: FakeWeChat, shop: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wechat_openapi")
    cache = BrokenCache()
    now = [0.0]
    provider = wo.StableTokenProvider(APPID, SECRET, cache=cache, clock=lambda: now[0])
    client = wo.Client(token_provider=provider, base_url=wechat_fake.url)

    assert client.get_open_account().open_appid == "wxopen"
    now[0] += 7200  # the token is due again, and the cache is still down
    assert client.get_open_account().open_appid == "wxopen"

    assert cache.calls == 1  # then skipped for its cool-off (see test_cache_circuit.py)
    assert paths(wechat_fake) == [STABLE, OPEN_GET, STABLE, OPEN_GET]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "shared cache (BrokenCache) failed (ConnectionError" in warnings[0].getMessage()


def test_an_exception_from_the_users_own_provider_propagates_as_it_is(
    wechat_fake: FakeWeChat,
) -> None:
    def vault() -> str:
        raise PermissionError("vault sealed")

    with pytest.raises(PermissionError, match="vault sealed"):
        wo.Client(token_provider=vault, base_url=wechat_fake.url).get_open_account()
    assert wechat_fake.requests == []


@pytest.mark.parametrize(
    ("body", "field"), [(b'{"errcode": 0}', "open_appid"), (b'{"open_appid": 7}', "open_appid")]
)
def test_an_unusable_answer_names_the_field_and_the_endpoint(
    wechat_fake: FakeWeChat, shop: Account, body: bytes, field: str
) -> None:
    wechat_fake.inject(Fault.respond(200, body))
    with pytest.raises(wo.InvalidResponseError, match=f"OpenAccount answer: field '{field}'") as e:
        wo.Client(access_token=shop.token, base_url=wechat_fake.url).get_open_account()
    assert e.value.path == OPEN_GET
    assert e.value.status_code == 200


# Masking by shape -------------------------------------------------------------------------------


def test_a_one_character_token_leaves_errmsg_and_rid_intact(wechat_fake: FakeWeChat) -> None:
    wechat_fake.add_account("wxshort", token="e")  # not bound: 89002
    client = wo.Client(access_token="e", base_url=wechat_fake.url)
    with pytest.raises(wo.OpenAccountNotBoundError) as caught:
        client.get_open_account()
    (rid,) = wechat_fake.rids
    assert caught.value.rid == rid
    assert caught.value.errmsg == f"open not exists rid: {rid}"
    assert str(caught.value).startswith("89002 open not exists (")


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("open not exists rid: 6b0c0e7f-816b9352-e835c2dd", "e", None),
        ("token e was refused", "e", "token *** was refused"),
        (f"token {TOKEN}, again {TOKEN}.", TOKEN, "token ***, again ***."),
        (f"url?access_token={TOKEN}&x=1", TOKEN, "url?access_token=***&x=1"),
        (f"br-{TOKEN}x", TOKEN, "br-***x"),  # a real token, glued to other text
        ("xe-e", "e", None),  # a short one inside a longer value: not this token
    ],
)
def test_secrets_are_masked_where_they_stand_as_whole_values(
    text: str, secret: str, expected: Any
) -> None:
    from wechat_openapi._redact import scrub

    assert scrub(text, [secret]) == (text if expected is None else expected)


# Clients per account: with_options --------------------------------------------------------------


def test_200_derived_clients_over_200_tokens_share_one_connection(
    wechat_fake: FakeWeChat,
) -> None:
    accounts = [
        wechat_fake.add_account(f"wx{index:04d}", open_appid=f"wxopen{index}")
        for index in range(200)
    ]
    root = wo.Client(access_token="platform", base_url=wechat_fake.url)
    clients = [root.with_options(access_token=account.token) for account in accounts]

    answers = [client.get_open_account().open_appid for client in clients]

    assert answers == [f"wxopen{index}" for index in range(200)]
    assert [request.token for request in wechat_fake.requests] == [a.token for a in accounts]
    assert wechat_fake.connections == 1


def test_derived_clients_under_16_threads_share_the_pool(wechat_fake: FakeWeChat) -> None:
    accounts = [wechat_fake.add_account(open_appid=f"wxopen{i}") for i in range(64)]
    root = wo.Client(access_token="platform", base_url=wechat_fake.url)

    def work(thread: int) -> List[str]:
        mine = accounts[thread::16]
        return [root.with_options(access_token=a.token).get_open_account().open_appid for a in mine]

    results = run_in_threads(16, work)
    answers = [answer for answers in results for answer in answers]
    assert sorted(answers) == sorted(f"wxopen{i}" for i in range(64))
    assert wechat_fake.connections <= 16


def test_a_derived_client_keeps_what_it_does_not_override(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    root = wo.Client(access_token=shop.token, base_url=wechat_fake.url, user_agent="ua/1")
    derived = root.with_options(deadline=1.5, max_retries=0, timeout=(0.5, 1))

    assert derived._tokens is root._tokens
    assert derived._transport is root._transport
    assert (derived._settings.deadline, derived._settings.max_retries) == (1.5, 0)
    assert (derived._settings.connect_timeout, derived._settings.read_timeout) == (0.5, 1.0)
    assert root._settings.deadline == 20
    assert root.with_options()._settings is root._settings
    assert derived.get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[-1].headers["user-agent"] == "ua/1"


def test_a_derived_clients_deadline_is_its_own(wechat_fake: FakeWeChat, shop: Account) -> None:
    root = wo.Client(access_token=shop.token, base_url=wechat_fake.url)
    wechat_fake.inject(Fault.delay(30))
    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="deadline of 1s passed while waiting"):
        root.with_options(deadline=1, max_retries=0).get_open_account()
    assert time.monotonic() - started < 5  # the root would wait for its 10 s read timeout


def test_a_derived_client_may_take_a_token_provider(wechat_fake: FakeWeChat, shop: Account) -> None:
    root = wo.Client(access_token="someone else's", base_url=wechat_fake.url)
    derived = root.with_options(token_provider=lambda: shop.token)
    assert derived.get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[-1].token == shop.token


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"access_token": "a", "token_provider": lambda: "b"}, TypeError, "exactly one of"),
        ({"access_token": ""}, ValueError, "access_token must not be empty"),
        ({"deadline": 0}, ValueError, "deadline must be a positive"),
        ({"deadline": "5"}, TypeError, "deadline must be a number"),
        ({"timeout": (1, 2, 3)}, ValueError, "timeout must be a number or a"),
        ({"max_retries": -1}, ValueError, "max_retries must be at least 0"),
        ({"max_retries": 1.5}, TypeError, "max_retries must be an int"),
    ],
)
def test_bad_overrides_are_refused_by_name(overrides: Any, error: Any, message: str) -> None:
    root = wo.Client(access_token="root", base_url=MOCK_BASE)
    with pytest.raises(error, match=message):
        root.with_options(**overrides)


def test_closing_a_derived_client_leaves_the_pool_and_closing_the_root_closes_all(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    root = wo.Client(access_token=shop.token, base_url=wechat_fake.url)
    first, second = root.with_options(), root.with_options(deadline=5)
    first.close()
    with pytest.raises(RuntimeError, match="closed"):
        first.get_open_account()
    assert second.get_open_account().open_appid == "wxopen"
    assert root.get_open_account().open_appid == "wxopen"
    assert wechat_fake.connections == 1

    root.close()
    for client in (root, second, root.with_options()):
        with pytest.raises(RuntimeError, match="closed"):
            client.get_open_account()


def test_a_derived_client_costs_no_session_and_little_memory() -> None:
    import tracemalloc

    root = wo.Client(access_token="root", base_url=MOCK_BASE)
    tokens = [f"token-{index:06d}" for index in range(1000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    derived = [root.with_options(access_token=token) for token in tokens]
    per_client = (tracemalloc.get_traced_memory()[0] - before) / len(derived)
    tracemalloc.stop()
    assert per_client <= 1024
    assert all(client._transport is root._transport for client in derived)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_a_derived_client_in_a_forked_child_opens_its_own_connection(
    wechat_fake: FakeWeChat, shop: Account
) -> None:
    root = wo.Client(access_token="root", base_url=wechat_fake.url)
    derived = root.with_options(access_token=shop.token)
    derived.get_open_account()
    parent_connection = wechat_fake.requests[-1].connection

    pid = os.fork()
    if pid == 0:  # the child: exit with the outcome, never return into pytest
        status = 1
        try:
            status = 0 if derived.get_open_account().open_appid == "wxopen" else 1
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)

    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    assert wechat_fake.requests[-1].connection != parent_connection
    derived.get_open_account()
    assert wechat_fake.requests[-1].connection == parent_connection


# The fast path, and when it steps aside -------------------------------------------------------


def test_the_fast_path_does_not_go_through_the_adapters_send(
    wechat_fake: FakeWeChat, shop: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = wo.Client(access_token=shop.token, base_url=wechat_fake.url)
    sends: List[Any] = []
    real_send = requests.adapters.HTTPAdapter.send
    client._transport._adapter.send = lambda *a, **k: sends.append(a) or real_send(*a, **k)
    assert client.get_open_account().open_appid == "wxopen"
    assert sends == []


def test_a_patched_adapter_send_is_used_so_mocks_keep_working(
    mocked: responses.RequestsMock,
) -> None:
    # The client is built before responses patches HTTPAdapter.send, as a module-level one is.
    mocked.stop()
    client = wo.Client(access_token=TOKEN, base_url="https://api.weixin.qq.com")
    mocked.start()
    url = "https://api.weixin.qq.com/cgi-bin/open/get"
    mocked.add(responses.POST, url, json={"errcode": 0, "open_appid": "wxmocked"})
    assert client.get_open_account().open_appid == "wxmocked"
    assert len(mocked.calls) == 1


def test_requests_mock_patching_session_send_is_honoured() -> None:
    import requests_mock

    client = wo.Client(access_token=TOKEN, base_url="https://api.weixin.qq.com")
    with requests_mock.Mocker() as mock:
        url = "https://api.weixin.qq.com/cgi-bin/open/get"
        mock.post(url, json={"errcode": 0, "open_appid": "wxmocked"})
        assert client.get_open_account().open_appid == "wxmocked"
        assert mock.call_count == 1
        assert mock.last_request.qs == {"access_token": [TOKEN.lower()]}


def test_a_proxy_or_a_users_session_takes_the_adapter_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert wo.Client(access_token="t", base_url="http://127.0.0.1:9")._transport._fast
    session = requests.Session()
    assert not wo.Client(access_token="t", session=session)._transport._fast
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert not wo.Client(access_token="t")._transport._fast


def test_a_refused_connection_on_the_fast_path_is_a_transport_error_not_a_timeout(
    make_client: MakeClient,
) -> None:
    client = make_client(base_url=refused_url(), max_retries=0)
    assert client._transport._fast
    with pytest.raises(wo.TransportError) as caught:
        client.get_open_account()
    assert not isinstance(caught.value, wo.RequestTimeoutError)
    assert "could not connect (http://127.0.0.1:" in str(caught.value)
    assert "access_token=***" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_the_fast_path_shares_nothing_across_threads_it_should_not(
    wechat_fake: FakeWeChat,
) -> None:
    """Many threads taking the pool for the first time at once: one pool, right answers."""
    accounts = [wechat_fake.add_account(open_appid=f"wxopen{i}") for i in range(16)]
    root = wo.Client(access_token="root", base_url=wechat_fake.url)

    def work(index: int) -> str:  # the threads are released together
        return root.with_options(access_token=accounts[index].token).get_open_account().open_appid

    assert run_in_threads(16, work) == [f"wxopen{i}" for i in range(16)]
