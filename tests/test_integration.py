"""The client against the fake WeChat over real sockets: the debugging loop, connection use,
threads, time limits, retries, token refresh and fork."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, List

import pytest

import wechat_openapi as wo
from tests.conftest import MakeClient, run_in_threads
from wechat_openapi.testing import Account, FakeWeChat, Fault

# Every test here runs on both ways of sending (see conftest.either_send_path).
pytestmark = pytest.mark.usefixtures("either_send_path")

# The debugging loop ------------------------------------------------------------------


def look_up(client: wo.Client, error: wo.APIError) -> wo.RidInfo:
    assert error.rid is not None, "every error of the fake carries a rid"
    return client.get_rid_info(error.rid)


def test_debugging_loop_for_rid_get(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    other = wechat_fake.add_account("wxother")
    foreign = wechat_fake.add_rid(other)
    client = fake_client()

    with pytest.raises(wo.RidPermissionDeniedError) as caught:
        client.get_rid_info(foreign)

    info = look_up(client, caught.value)
    assert info.request_json() == {"rid": foreign}
    assert info.response_json()["errcode"] == 76003
    assert info.client_ip == "127.0.0.1"


def test_debugging_loop_for_open_get(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    client = fake_client()
    with pytest.raises(wo.InvalidAppIdError) as caught:
        client.get_open_account("wxsomeoneelse")

    info = look_up(client, caught.value)
    assert info.request_json() == {"appid": "wxsomeoneelse"}
    assert info.response_json()["errcode"] == 40013


def test_debugging_loop_for_query_nickname(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    client = fake_client()
    with pytest.raises(wo.NicknameAuditNotFoundError) as caught:
        client.query_nickname_status(424242)

    info = look_up(client, caught.value)
    assert info.request_json() == {"audit_id": 424242}
    assert info.response_json()["errcode"] == 91011


def test_a_rid_looked_up_shows_what_was_sent_with_the_token_masked_in_repr(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.quota_exceeded())
    client = fake_client()
    with pytest.raises(wo.QuotaExceededError) as caught:
        client.get_open_account("wxshop")
    info = look_up(client, caught.value)
    assert account.token in info.request_url
    assert account.token not in repr(info)


# Connections and threads --------------------------------------------------------------


def test_100_sequential_calls_use_one_connection(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    client = fake_client()
    for _ in range(100):
        assert client.get_open_account().open_appid == "wxopen"
    assert len(wechat_fake.requests) == 100
    assert wechat_fake.connections == 1


def test_16_threads_share_one_client_and_each_gets_its_own_answer(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    bodies = {
        wechat_fake.add_rid(account, request_body=f'{{"n": {n}}}'): f'{{"n": {n}}}'
        for n in range(16 * 25)
    }
    rids = list(bodies)
    client = fake_client()

    def work(worker: int) -> List[str]:
        mine = rids[worker * 25 : (worker + 1) * 25]
        return [rid for rid in mine if client.get_rid_info(rid).request_body != bodies[rid]]

    assert run_in_threads(16, work) == [[]] * 16  # every answer matched its own request
    assert len(wechat_fake.requests) == 16 * 25
    assert wechat_fake.connections <= 16


# Time limits --------------------------------------------------------------------------


def test_a_server_that_never_answers_times_out_at_the_read_timeout(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    """The read timeout ends the wait, not the deadline nor the server: the error says it
    timed out (not that the deadline passed), and the call ended well before the server's
    delay or the deadline, either of which a client that ignored the read timeout would wait
    for. A busy machine may stretch the wait by seconds; the bound leaves it room."""
    read_timeout, delay, deadline = 1.0, 60.0, 60.0
    wechat_fake.inject(Fault.delay(delay))  # cut short when the fake stops
    client = fake_client(timeout=(2, read_timeout), deadline=deadline, max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="timed out") as caught:
        client.get_open_account()
    elapsed = time.monotonic() - started
    assert "deadline" not in str(caught.value)
    assert 0.9 * read_timeout <= elapsed < min(delay, deadline) / 4


def test_a_body_trickled_one_byte_every_200ms_is_cut_at_the_deadline(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    """The trickle never stalls past the 5 s read timeout, so only the deadline can end it:
    the error says the deadline passed while reading. A reader that let the trickle run
    would take the whole body (about 11 s); a bound at half that leaves a busy machine room."""
    deadline = 1.0
    wechat_fake.inject(Fault.trickle(0.2))
    client = fake_client(timeout=(2, 5), deadline=deadline, max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="deadline of 1s passed while reading"):
        client.get_open_account()
    assert deadline <= time.monotonic() - started < 11 / 2


def test_a_timed_out_attempt_is_retried(wechat_fake: FakeWeChat, fake_client: MakeClient) -> None:
    wechat_fake.inject(Fault.delay(30))
    assert fake_client(timeout=(2, 0.3), max_retries=1).get_open_account().open_appid == "wxopen"
    assert len(wechat_fake.requests) == 2


# Retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "times", "requests_made", "outcome"),
    [
        pytest.param(Fault.system_busy(), 2, 3, None, id="-1 twice then ok: 3 requests"),
        pytest.param(Fault.bad_gateway(), 1, 2, None, id="502 then ok: 2 requests"),
        pytest.param(Fault.quota_exceeded(), 1, 1, wo.QuotaExceededError, id="45009: 1 request"),
        pytest.param(Fault.system_busy(), 3, 3, wo.SystemBusyError, id="-1 thrice: gives up"),
    ],
)
def test_retry_counts_against_the_fake(
    wechat_fake: FakeWeChat,
    fake_client: MakeClient,
    fault: Fault,
    times: int,
    requests_made: int,
    outcome: Any,
) -> None:
    wechat_fake.inject(fault, times=times)
    client = fake_client()
    if outcome is None:
        assert client.get_open_account().open_appid == "wxopen"
    else:
        with pytest.raises(outcome):
            client.get_open_account()
    assert len(wechat_fake.requests) == requests_made


# Token refresh -------------------------------------------------------------------------


def counting(tokens: Callable[[int], str]) -> Any:
    """A token_provider that hands out tokens(n) on its n-th call and counts the calls."""
    calls: List[str] = []
    lock = threading.Lock()

    def provider() -> str:
        with lock:
            calls.append("")
            n = len(calls)
        token = tokens(n)
        calls[n - 1] = token
        return token

    provider.calls = calls  # type: ignore[attr-defined]
    return provider


def test_a_provider_that_returns_a_stale_token_first_costs_two_requests(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    stale = account.token
    fresh = wechat_fake.rotate_token(account)
    provider = counting(lambda n: stale if n == 1 else fresh)

    assert fake_client(token_provider=provider).get_open_account().open_appid == "wxopen"
    assert [r.token for r in wechat_fake.requests] == [stale, fresh]


def test_a_provider_that_always_returns_a_bad_token_costs_two_requests_then_raises(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    provider = counting(lambda n: f"bad-{n}")

    with pytest.raises(wo.InvalidCredentialError):
        fake_client(token_provider=provider).get_open_account()
    assert len(wechat_fake.requests) == 2


def test_20_threads_with_the_same_stale_token_cause_one_extra_provider_call(
    wechat_fake: FakeWeChat, account: Account, fake_client: MakeClient
) -> None:
    stale = account.token
    fresh = wechat_fake.rotate_token(account)
    everyone_has_the_stale_token = threading.Barrier(20, timeout=10)

    def tokens(n: int) -> str:
        if n <= 20:  # the first call of each thread: hold them all until all have it
            everyone_has_the_stale_token.wait()
            return stale
        return fresh

    provider = counting(tokens)
    client = fake_client(token_provider=provider)

    results = run_in_threads(20, lambda _: client.get_open_account().open_appid)

    assert results == ["wxopen"] * 20
    assert provider.calls.count(fresh) == 1
    assert len(provider.calls) == 21
    assert sum(r.token == stale for r in wechat_fake.requests) == 20
    assert sum(r.token == fresh for r in wechat_fake.requests) == 20


# Fork -----------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_a_forked_child_uses_a_new_connection_and_leaves_the_parents_alone(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    client = fake_client()
    client.get_open_account()
    parent_connection = wechat_fake.requests[-1].connection

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe and never return into pytest
        status = 1
        try:
            status = 0 if client.get_open_account().open_appid == "wxopen" else 1
        finally:
            os.write(write_end, bytes([status]))
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        child_status = report.read(1)
    os.waitpid(pid, 0)

    assert child_status == b"\x00"
    assert wechat_fake.requests[-1].connection != parent_connection
    client.get_open_account()
    assert wechat_fake.requests[-1].connection == parent_connection
    assert wechat_fake.connections == 2
