"""Processes share one stable token through Django's cache framework on a real Redis server
(the ``redis_url`` fixture, from redis_support.py)."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.redis_support import wait_until_ready, worker_processes
from wechat_openapi.testing import FakeWeChat, Fault

WORKER = Path(__file__).with_name("shared_token_worker.py")
COMPONENT_WORKER = Path(__file__).with_name("component_worker.py")
APPID, SECRET = "wxsharedtoken0001", "shared-token-secret"


def run_processes(script: Path, argument_lists: List[List[str]]) -> List[Dict[str, Any]]:
    """Run ``script`` once per argument list (``START`` in one stands for the start signal's
    path); release them together once all are ready; return the JSON each printed."""
    with tempfile.TemporaryDirectory() as signals:
        start = Path(signals) / "start"
        commands = [
            [sys.executable, str(script), *(str(start) if a == START else a for a in arguments)]
            for arguments in argument_lists
        ]
        with worker_processes(commands) as workers:
            wait_until_ready(start.parent, start.name, workers)
            start.touch()
            outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err.decode()
    return [json.loads(out) for out, _ in outputs]


START = "<start signal>"


def run_workers(
    redis_url: str, fake: FakeWeChat, calls: int, deadline: float, read_timeout: float = 10
) -> List[Dict[str, Any]]:
    """Start 4 stable-token worker processes together; return what each printed."""
    arguments = [redis_url, fake.url, APPID, SECRET, str(calls), START]
    arguments += [str(deadline), str(read_timeout)]
    return run_processes(WORKER, [arguments] * 4)


def token_calls(fake: FakeWeChat) -> List[Any]:
    return [r for r in fake.requests if r.path == "/cgi-bin/stable_token"]


def test_4_processes_x_50_calls_make_exactly_one_stable_token_call(
    redis_url: str, wechat_fake: FakeWeChat
) -> None:
    wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")
    results = run_workers(redis_url, wechat_fake, calls=50, deadline=20)

    assert [result["answers"] for result in results] == [["wxopen"] * 50] * 4
    api_calls = [r for r in wechat_fake.requests if r.path == "/cgi-bin/open/get"]
    assert len(token_calls(wechat_fake)) == 1
    assert len(api_calls) == 4 * 50
    assert len({r.token for r in api_calls}) == 1


def test_a_slow_token_endpoint_is_fetched_once_while_the_others_wait_for_it(
    redis_url: str, wechat_fake: FakeWeChat
) -> None:
    """The holder's fetch takes 5 s (one attempt: the read timeout is 30 s): its lock must
    outlive the fetch in Redis, and nobody may take it over while the holder is alive. The
    deadline leaves 30 s beyond the fetch for a busy machine. (That the lock lasts the whole
    deadline, not a fixed 10 s as it once did, test_call_path checks without the wait.)"""
    delay, deadline = 5, 35
    wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")
    wechat_fake.inject(Fault.delay(delay), path="/cgi-bin/stable_token")
    results = run_workers(redis_url, wechat_fake, calls=3, deadline=deadline, read_timeout=30)

    assert [result["answers"] for result in results] == [["wxopen"] * 3] * 4
    assert len(token_calls(wechat_fake)) == 1
    assert all(delay - 1 <= result["elapsed"] < deadline for result in results)


def test_a_stalled_token_endpoint_ends_every_process_at_its_deadline(
    redis_url: str, wechat_fake: FakeWeChat
) -> None:
    """WeChat stalls for a minute; each process gives up at its own 3 s deadline."""
    wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")
    wechat_fake.inject(Fault.delay(60), times=10, path="/cgi-bin/stable_token")
    results = run_workers(redis_url, wechat_fake, calls=1, deadline=3)

    assert [result["error"] for result in results] == ["RequestTimeoutError"] * 4
    assert all(result["elapsed"] < 2 * 3 for result in results)  # the stall lasts 60 s
    assert len(token_calls(wechat_fake)) == 1  # the lock holder's; the others waited


def test_4_processes_x_50_calls_over_100_accounts_fetch_each_token_once(
    redis_url: str, wechat_fake: FakeWeChat, tmp_path: Path
) -> None:
    """A third-party platform: one component-token fetch in all, one authorizer-token fetch
    per account, though two processes call each account at the same moment."""
    component = wechat_fake.add_component("wxplatform0000001")
    accounts = [wechat_fake.add_account(f"wx{i:03d}", open_appid=f"wxopen{i}") for i in range(100)]
    store = tmp_path / "refresh_tokens.json"
    store.write_text(json.dumps({a.appid: wechat_fake.authorize(component, a) for a in accounts}))
    ticket = wechat_fake.issue_ticket(component)
    arguments = [redis_url, wechat_fake.url, component.appid, component.secret, ticket, str(store)]
    results = run_processes(
        COMPONENT_WORKER, [[*arguments, str(index), "50", START] for index in range(4)]
    )

    answers: Dict[str, str] = {}
    for result in results:
        answers.update(result["answers"])
    assert answers == {f"wx{i:03d}": f"wxopen{i}" for i in range(100)}
    fetches = [r for r in wechat_fake.requests if r.path.startswith("/cgi-bin/component/")]
    component_fetches = [r for r in fetches if r.path.endswith("api_component_token")]
    authorizer_fetches = [
        r.json()["authorizer_appid"] for r in fetches if r not in component_fetches
    ]
    assert len(component_fetches) == 1
    assert sorted(authorizer_fetches) == sorted(answers)  # each account exactly once
    assert len([r for r in wechat_fake.requests if r.path == "/cgi-bin/open/get"]) == 200


def test_worker_processes_stops_waits_for_and_closes_a_worker_when_its_block_fails() -> None:
    """A failed assertion must not leave a worker running or its pipes to the garbage
    collector (a ResourceWarning that, under the suite's filters, fails a later test)."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    started: List[Any] = []

    def fail_among(commands: List[List[str]]) -> None:
        with worker_processes(commands) as workers:
            started.extend(workers)
            raise RuntimeError("a failed check")

    with pytest.raises(RuntimeError, match="a failed check"):
        fail_among([sleeper, sleeper])
    assert [worker.returncode for worker in started] == [-signal.SIGKILL] * 2
    assert all(worker.stdout.closed and worker.stderr.closed for worker in started)
