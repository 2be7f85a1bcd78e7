"""Shared fixtures: a sentinel token, a mocked WeChat (responses), the fake WeChat, and
clients that never sleep."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
import responses

from tests.platform_support import COMPONENT_APPID, COMPONENT_SECRET, Store
from tests.raw_support import raw_servers, way  # noqa: F401 (fixtures for every test)
from tests.redis_support import redis_server, redis_url  # noqa: F401 (fixtures for every test)
from wechat_openapi import CallContext, Client, _transport
from wechat_openapi.testing import Account, Component, FakeWeChat

# The one line a user adds for the wechat_fake fixture (our tests use it too), and pytester
# to run the README's Django example as a test suite of its own.
pytest_plugins = ["wechat_openapi.testing.pytest_plugin", "pytester"]

# Every mocked test talks to a loopback address that refuses connections, so a request the
# mock failed to catch can never reach WeChat.
MOCK_BASE = "http://127.0.0.1:9"
TOKEN = "SENTINEL" + secrets.token_hex(24)

MakeClient = Callable[..., Client]


@pytest.fixture(autouse=True)
def _no_base_url_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WECHAT_OPENAPI_BASE_URL exported in the shell (serve's recipe lines) would become
    every client's default, and the subprocesses': the tests that want it set it themselves."""
    monkeypatch.delenv("WECHAT_OPENAPI_BASE_URL", raising=False)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(params=["direct route", "urlopen", "adapter.send"])
def either_send_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with clients on the direct route (a prebuilt head on requests' pool), then
    on urllib3's ``urlopen`` (where the direct route cannot be taken), then on the fallback
    (``HTTPAdapter.send``); a module opts in with ``pytestmark``."""
    monkeypatch.setattr(_transport, "FAST_PATH", request.param != "adapter.send")
    monkeypatch.setattr(_transport, "DIRECT", request.param == "direct route")
    return str(request.param)


@pytest.fixture
def sleeps() -> List[float]:
    """The backoff delays the client asked to sleep, recorded instead of slept."""
    return []


@pytest.fixture
def make_client(sleeps: List[float]) -> Iterator[MakeClient]:
    """Build clients against the mock (or any base_url) whose backoff is recorded, not slept."""
    made: List[Client] = []

    def make(**options: Any) -> Client:
        if "token_provider" not in options:
            options.setdefault("access_token", TOKEN)
        options.setdefault("base_url", MOCK_BASE)
        client = Client(**options)
        client._transport.sleep = sleeps.append
        client._transport.backoff = lambda retry: 0.01 * retry
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()


@pytest.fixture
def account(wechat_fake: FakeWeChat) -> Account:
    """An account of the fake's, bound to an open platform account, whose token is TOKEN."""
    return wechat_fake.add_account("wxshop", token=TOKEN, open_appid="wxopen")


@pytest.fixture
def fake_client(wechat_fake: FakeWeChat, account: Account, make_client: MakeClient) -> MakeClient:
    """Build never-sleeping clients for ``account`` against the fake."""

    def make(**options: Any) -> Client:
        options.setdefault("base_url", wechat_fake.url)
        if "token_provider" not in options:
            options.setdefault("access_token", account.token)
        return make_client(**options)

    return make


def call_context(base_url: str = MOCK_BASE, deadline: float = 20.0, **options: Any) -> CallContext:
    """A CallContext as a Client makes for one call against ``base_url``, whose transport
    never sleeps in backoff: what a token source is handed."""
    client = Client(access_token="unused", base_url=base_url, deadline=deadline, **options)
    client._transport.sleep = lambda seconds: None
    return CallContext(client._transport, client._settings, time.monotonic() + deadline)


def run_in_threads(count: int, work: Callable[[int], Any]) -> List[Any]:
    """Run ``work(0)`` to ``work(count - 1)`` in as many threads, released together; return
    their results in order, or raise the first exception a thread raised."""
    start = threading.Barrier(count, timeout=10)
    results: List[Any] = [None] * count
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:  # handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


def answer(
    mock: responses.RequestsMock, path: str, payload: Dict[str, Any], status: int = 200
) -> None:
    """Queue one JSON answer for ``path`` (queued answers are used in order)."""
    mock.add(responses.POST, MOCK_BASE + path, body=json.dumps(payload), status=status)


@pytest.fixture
def component(wechat_fake: FakeWeChat) -> Component:
    """A third-party platform on the fake, with the tests' appid and secret."""
    return wechat_fake.add_component(COMPONENT_APPID, secret=COMPONENT_SECRET)


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    """An account bound to an open platform account, not yet authorizing ``component``."""
    return wechat_fake.add_account("wxshop", open_appid="wxopen-shop")


@pytest.fixture
def store(wechat_fake: FakeWeChat, component: Component, shop: Account) -> Store:
    """A refresh-token store holding ``shop``'s, after it authorized ``component``."""
    return Store({"wxshop": wechat_fake.authorize(component, shop)})


@pytest.fixture
def rotating(wechat_fake: FakeWeChat) -> Component:
    """A platform whose every authorizer-token fetch rotates the account's refresh token."""
    return wechat_fake.add_component(
        COMPONENT_APPID, secret=COMPONENT_SECRET, rotate_refresh_tokens=True
    )
