"""A stable_token endpoint that stalls while WeChat refuses the held token: forced refreshes
stay at one in all, and the first call after the stall succeeds. In one process, and in 4
processes sharing a real Redis server. The stall holds each request until it is over and then
answers it, as a stalled upstream does (a forced refresh sent meanwhile still rotates)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import wechat_openapi as wo
from tests.redis_support import wait_until_ready, worker_processes
from wechat_openapi.testing import Account, FakeWeChat

STABLE = "/cgi-bin/stable_token"
APPID = "wxSTALLAPPID0000001"
SECRET = "stall-secret-0123456789abcdef"
WORKER = Path(__file__).with_name("stall_worker.py")
FORCED_ONLY = {"force_refresh": True}
PATIENT = 60.0  # the deadline of the calls outside the stall: a busy machine may be slow


@pytest.fixture
def shop(wechat_fake: FakeWeChat) -> Account:
    return wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")


def forced(fake: FakeWeChat) -> int:
    return int(fake.counts()["token_fetches"]["stable_token"]["force_refresh"])


def stall_over(fake: FakeWeChat, shop: Account, refused: str, ends: float) -> None:
    """Wait until the stall is over as the fake sees it: past ``ends`` and, if a forced
    refresh was sent, until the fake answered it (the token rotated). The stalled handler
    wakes at the same moment as the test, so ``ends`` alone races it on a busy machine."""
    sleep_until(ends)
    give_up = time.monotonic() + 60
    while forced(fake) and shop.token == refused:
        assert time.monotonic() < give_up, "the fake never answered the stalled forced refresh"
        time.sleep(0.01)


def sleep_until(moment: float) -> None:
    """Wait until time.monotonic() reaches ``moment``: a lower bound, never a guess of how
    long something takes."""
    while time.monotonic() < moment:
        time.sleep(min(0.05, max(moment - time.monotonic(), 0)))


@pytest.mark.parametrize("where", [None, FORCED_ONLY], ids=["every request", "forced only"])
def test_five_calls_during_a_stall_force_at_most_once_and_the_next_call_succeeds(
    wechat_fake: FakeWeChat,
    shop: Account,
    where: Optional[Dict[str, Any]],
) -> None:
    client = wo.Client.from_stable_token(APPID, SECRET, base_url=wechat_fake.url, deadline=1.5)
    patient = client.with_options(deadline=PATIENT)  # for the calls outside the stall
    assert patient.get_open_account().open_appid == "wxopen"
    refused = wechat_fake.refuse_token(shop)
    stall = 9.0 if where is None else 3.0  # past five deadlines, or the first one
    ends = time.monotonic() + stall
    wechat_fake.stall(STABLE, stall, where=where)

    outcomes = []
    for _ in range(5):
        try:
            outcomes.append(client.get_open_account().open_appid)
        except wo.WeChatError as error:
            outcomes.append(type(error).__name__)
    assert set(outcomes) <= {"RequestTimeoutError", "InvalidCredentialError", "wxopen"}
    assert forced(wechat_fake) <= 1

    stall_over(wechat_fake, shop, refused, ends)
    assert patient.get_open_account().open_appid == "wxopen"  # the first call after the stall
    assert forced(wechat_fake) <= 1
    client.close()


@pytest.mark.parametrize("where", [None, FORCED_ONLY], ids=["every request", "forced only"])
def test_4_processes_on_redis_make_at_most_one_forced_refresh_through_a_stall(
    redis_url: str,
    wechat_fake: FakeWeChat,
    shop: Account,
    where: Optional[Dict[str, Any]],
    tmp_path: Path,
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    start, after = signals / "start", signals / "after"
    arguments = [redis_url, wechat_fake.url, APPID, SECRET, "2", "1.5", str(start), str(after)]
    with worker_processes([[sys.executable, str(WORKER), *arguments]] * 4) as workers:
        wait_until_ready(signals, "start", workers)  # each warmed up with the same token
        refused = wechat_fake.refuse_token(shop)
        stall = 4.5 if where is None else 3.0  # past each worker's 2 deadlines, or 1
        ends = time.monotonic() + stall
        wechat_fake.stall(STABLE, stall, where=where)
        start.touch()
        wait_until_ready(signals, "after", workers)  # each made its 2 calls (1.5 s deadline each)
        stall_over(wechat_fake, shop, refused, ends)
        after.touch()
        outputs = [worker.communicate(timeout=120) for worker in workers]
    results: List[Dict[str, Any]] = []
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err.decode()
        results.append(json.loads(out))
    assert [result["warm"] for result in results] == ["wxopen"] * 4
    assert [result["after"] for result in results] == ["wxopen"] * 4
    for result in results:
        assert set(result["during"]) <= {"RequestTimeoutError", "InvalidCredentialError", "wxopen"}
    assert forced(wechat_fake) <= 1
    assert wechat_fake.counts()["token_fetches"]["stable_token"]["normal"] >= 2
