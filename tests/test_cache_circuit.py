"""One circuit per cache object per process: a cache that fails is skipped for a cool-off,
then probed by one caller; one WARNING per outage and one INFO when it answers again. The
real-Redis test hangs the server (SIGSTOP) under many token slots and threads."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, List

import pytest
from django.core.cache.backends.redis import RedisCache

import wechat_openapi as wo
from tests.conftest import run_in_threads
from tests.redis_support import RedisServer
from tests.secrets_support import assert_no_secret
from wechat_openapi import _shared_cache
from wechat_openapi._shared_cache import CacheDown, CacheGuard
from wechat_openapi.testing import FakeWeChat

WAIT = 0.5  # the Redis client's socket timeout: what one call to a hung Redis costs


class GatedCache:
    """Fails at once the first time (the outage); afterwards each call waits for ``gate``,
    then fails too: a probe that hangs until the test lets it go."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def get(self, key: str, default: Any = None) -> Any:
        self.calls += 1
        if self.calls > 1:
            self.entered.set()
            self.gate.wait(30)
        raise ConnectionError("Redis is down")

    set = add = get  # type: ignore[assignment]


class SwitchCache:
    """A dict-backed cache that fails while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.data: dict = {}

    def get(self, key: str, default: Any = None) -> Any:
        self.calls += 1
        if self.down:
            raise ConnectionError("Redis is down")
        return self.data.get(key, default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self.get(key)
        self.data[key] = value

    def add(self, key: str, value: Any, timeout: Any = None) -> bool:
        if self.get(key) is not None:
            return False
        self.data[key] = value
        return True


def messages(caplog: pytest.LogCaptureFixture, level: int) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_while_one_caller_probes_a_failed_cache_the_others_skip_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 0.0)  # probe at once
    cache = GatedCache()
    first, second = CacheGuard(cache), CacheGuard(cache)  # two token slots, one cache
    with pytest.raises(CacheDown):
        first.ask("get", "k")  # the outage starts
    probe_failed: List[bool] = []

    def probe() -> None:
        try:
            first.ask("get", "k")
        except CacheDown:
            probe_failed.append(True)

    prober = threading.Thread(target=probe)
    prober.start()
    assert cache.entered.wait(10)  # the probe is in the cache, hanging
    for guard in (first, second):
        with pytest.raises(CacheDown):
            guard.ask("get", "k")  # skipped: the cache is not called
    assert cache.calls == 2
    cache.gate.set()
    prober.join(10)
    assert probe_failed == [True]


def test_a_failed_cache_is_skipped_until_its_cool_off_ends(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wechat_openapi")
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 3600.0)
    cache = SwitchCache()
    guards = [CacheGuard(cache) for _ in range(50)]  # 50 token slots on one cache
    cache.down = True
    for guard in guards:
        with pytest.raises(CacheDown):
            guard.ask("get", "k")
    cache.down = False
    with pytest.raises(CacheDown):
        guards[0].ask("get", "k")  # answering again, but still in its cool-off: skipped
    assert cache.calls == 1
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "the shared cache (SwitchCache) failed (ConnectionError: Redis is down)" in warnings[0]
    assert "skips it for 3600 to 5400 s" in warnings[0]


def test_each_outage_logs_one_warning_and_each_recovery_one_info(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wechat_openapi")
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 0.0)
    cache = SwitchCache()
    guard = CacheGuard(cache)
    for _ in range(2):  # two outages
        cache.down = True
        for _ in range(5):
            with pytest.raises(CacheDown):
                guard.ask("get", "k")
        cache.down = False
        for _ in range(5):
            assert guard.ask("get", "k") is None
    assert len(messages(caplog, logging.WARNING)) == 2
    infos = messages(caplog, logging.INFO)
    assert infos == ["the shared cache (SwitchCache) answers again; tokens are shared again"] * 2


def test_each_cache_object_has_its_own_circuit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 3600.0)
    broken, healthy = SwitchCache(), SwitchCache()
    broken.down = True
    with pytest.raises(CacheDown):
        CacheGuard(broken).ask("get", "k")
    assert CacheGuard(healthy).ask("add", "k", "v", 1) is True


def test_a_forked_child_does_not_inherit_a_probe_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", 0.0)
    cache = SwitchCache()
    cache.down = True
    circuit = _shared_cache._circuit_for(cache)
    with pytest.raises(CacheDown):
        CacheGuard(cache).ask("get", "k")
    assert circuit.admit() is True  # this caller probes; a fork now copies that state
    assert circuit.admit() is None
    circuit.after_fork_in_child()
    assert circuit.admit() is True  # the child's first caller probes for itself


class TimedCache:
    """Django's Redis cache, counting the calls that reached it and timing those that failed."""

    def __init__(self, url: str) -> None:
        options = {"socket_timeout": WAIT, "socket_connect_timeout": WAIT}
        self._cache = RedisCache(url, {"OPTIONS": options})
        self._lock = threading.Lock()
        self.calls = 0
        self.failed: List[float] = []  # seconds each failed call took

    def _timed(self, method: str, *args: Any) -> Any:
        with self._lock:
            self.calls += 1
        started = time.monotonic()
        try:
            return getattr(self._cache, method)(*args)
        except Exception:
            with self._lock:
                self.failed.append(time.monotonic() - started)
            raise

    def get(self, *args: Any) -> Any:
        return self._timed("get", *args)

    def set(self, *args: Any) -> Any:
        return self._timed("set", *args)

    def add(self, *args: Any) -> Any:
        return self._timed("add", *args)

    def delete(self, *args: Any) -> Any:
        return self._timed("delete", *args)


def test_a_hung_redis_costs_one_wait_per_cool_off_and_one_warning(
    redis_server: RedisServer,
    wechat_fake: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """20 accounts' token slots and 8 threads on one hung Redis, for 3 s: before the
    circuit, every fetch of every slot paid a timeout for each cache operation."""
    cool_off = 1.0
    monkeypatch.setattr(_shared_cache, "CACHE_COOL_OFF", cool_off)
    caplog.set_level(logging.INFO, logger="wechat_openapi")
    accounts = [
        wechat_fake.add_account(f"wxhung{i:04d}", secret=f"secret{i}", open_appid=f"wxopen{i}")
        for i in range(20)
    ]
    cache = TimedCache(redis_server.url)
    client = wo.Client(access_token="unused", base_url=wechat_fake.url, deadline=10)
    clients = [
        client.with_options(token_provider=wo.StableTokenProvider(a.appid, a.secret, cache=cache))
        for a in accounts
    ]
    with redis_server.hung():
        started = time.monotonic()
        assert clients[0].get_open_account().open_appid == "wxopen0"  # the outage starts

        def work(index: int) -> List[str]:
            answers = []
            while time.monotonic() - started < 3:
                for number, each in enumerate(clients):
                    answers.append(each.get_open_account().open_appid == f"wxopen{number}")
            return answers

        results = run_in_threads(8, work)
        elapsed = time.monotonic() - started
    assert all(all(answers) for answers in results)  # every call went on without the cache
    assert len(cache.failed) == cache.calls  # every call that reached Redis waited
    assert all(seconds >= WAIT * 0.8 for seconds in cache.failed)
    # The first wait, then at most one probe per cool-off (each cool-off is at least 1 s).
    assert cache.calls <= 1 + elapsed / cool_off
    assert len(messages(caplog, logging.WARNING)) == 1

    # Redis answers again: the next probe (after at most 1.5 cool-offs) says so, once.
    time.sleep(cool_off * (1 + _shared_cache.COOL_OFF_JITTER))
    fresh = client.with_options(
        token_provider=wo.StableTokenProvider("wxhung0000", "secret0", cache=cache)
    )
    assert fresh.get_open_account().open_appid == "wxopen0"
    assert messages(caplog, logging.INFO) == [
        "the shared cache (TimedCache) answers again; tokens are shared again"
    ]
    assert len(messages(caplog, logging.WARNING)) == 1


class EchoingCache:
    """A cache whose failures quote what it was asked to store, as some backends' do."""

    def get(self, key: str, default: Any = None) -> Any:
        return None

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        raise ValueError(f"cannot store {'x' * 150}{value!r}")


def test_the_outage_warning_masks_what_was_being_stored_before_cutting_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wechat_openapi")
    token = "ISSUED" + "0123456789abcdef" * 8
    with pytest.raises(CacheDown):
        CacheGuard(EchoingCache()).ask("set", "key", {"token": token, "use_until": 1.0}, 60)
    (warning,) = messages(caplog, logging.WARNING)
    assert "cannot store xxx" in warning
    assert_no_secret(token, warning)
