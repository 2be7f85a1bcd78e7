"""What is retried (failures that may pass) and what never is (every other answer)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Dict, Union

import pytest
import requests
import responses

import wechat_openapi as wo
import wechat_openapi._reader as reader
import wechat_openapi._transport as transport
from tests.conftest import MOCK_BASE, MakeClient
from wechat_openapi._transport import BACKOFF_BASE, BACKOFF_CAP, backoff_delay

PATH = "/cgi-bin/open/get"
OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"}

Step = Union[Dict[str, Any], int, Exception]


def script(mock: responses.RequestsMock, steps: list[Step]) -> None:
    """Queue answers: a dict is a JSON 200, an int a bare HTTP status, an exception is raised."""
    for step in steps:
        if isinstance(step, Exception):
            mock.add(responses.POST, MOCK_BASE + PATH, body=step)
        elif isinstance(step, int):
            mock.add(responses.POST, MOCK_BASE + PATH, status=step, body="<html>busy</html>")
        else:
            mock.add(responses.POST, MOCK_BASE + PATH, json=step)


BUSY = {"errcode": -1, "errmsg": "system error"}

RECOVERING = [
    pytest.param([BUSY, BUSY, OK], 3, id="errcode -1 twice then ok"),
    pytest.param([502, OK], 2, id="502 then ok"),
    pytest.param([500, 503, OK], 3, id="500, 503 then ok"),
    pytest.param([429, OK], 2, id="429 then ok"),
    pytest.param([requests.ConnectionError("refused"), OK], 2, id="connection error then ok"),
    pytest.param([requests.ConnectTimeout("slow"), OK], 2, id="connect timeout then ok"),
    pytest.param([requests.ReadTimeout("slow"), OK], 2, id="read timeout then ok"),
]


@pytest.mark.parametrize(("steps", "requests_made"), RECOVERING)
def test_passing_failures_are_retried_until_success(
    mocked: responses.RequestsMock,
    make_client: MakeClient,
    sleeps: list[float],
    steps: list[Step],
    requests_made: int,
) -> None:
    script(mocked, steps)

    assert make_client().get_open_account().open_appid == "wxopen"

    assert len(mocked.calls) == requests_made
    assert sleeps == [0.01 * retry for retry in range(1, requests_made)]


GIVING_UP = [
    pytest.param([BUSY] * 3, wo.SystemBusyError, id="errcode -1 every time"),
    pytest.param([502] * 3, wo.InvalidResponseError, id="502 every time"),
    pytest.param([requests.ConnectionError("x")] * 3, wo.TransportError, id="refused every time"),
    pytest.param([requests.ReadTimeout("x")] * 3, wo.RequestTimeoutError, id="timeout every time"),
]


@pytest.mark.parametrize(("steps", "error_class"), GIVING_UP)
def test_retries_stop_after_max_retries_with_the_last_error(
    mocked: responses.RequestsMock,
    make_client: MakeClient,
    steps: list[Step],
    error_class: type[wo.WeChatError],
) -> None:
    script(mocked, [*steps, OK])

    with pytest.raises(error_class):
        make_client(max_retries=2).get_open_account()

    assert len(mocked.calls) == 3


NEVER_RETRIED = [
    pytest.param({"errcode": 45009, "errmsg": "quota"}, wo.QuotaExceededError, id="45009"),
    pytest.param({"errcode": 40013, "errmsg": "appid"}, wo.InvalidAppIdError, id="40013"),
    pytest.param({"errcode": 89002, "errmsg": "unbound"}, wo.OpenAccountNotBoundError, id="89002"),
    pytest.param({"errcode": 48001, "errmsg": "unknown"}, wo.APIError, id="unknown code"),
    pytest.param(404, wo.InvalidResponseError, id="HTTP 404"),
    pytest.param(400, wo.InvalidResponseError, id="HTTP 400"),
    pytest.param(
        requests.exceptions.SSLError("bad certificate"), wo.TransportError, id="TLS failure"
    ),
    pytest.param({"open_appid": 5}, wo.InvalidResponseError, id="bad field"),
    pytest.param(
        {"errcode": 45011, "errmsg": "api minute-quota reach limit"},
        wo.MinuteQuotaExceededError,
        id="45011 minute quota",
    ),
]


@pytest.mark.parametrize(("step", "error_class"), NEVER_RETRIED)
def test_other_failures_are_never_retried(
    mocked: responses.RequestsMock,
    make_client: MakeClient,
    sleeps: list[float],
    step: Step,
    error_class: type[wo.WeChatError],
) -> None:
    script(mocked, [step, OK])

    with pytest.raises(error_class):
        make_client().get_open_account()

    assert len(mocked.calls) == 1
    assert sleeps == []


def test_max_retries_zero_disables_retries(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    script(mocked, [BUSY, OK])
    with pytest.raises(wo.SystemBusyError):
        make_client(max_retries=0).get_open_account()
    assert len(mocked.calls) == 1


def test_no_retry_when_the_backoff_would_outlast_the_deadline(
    mocked: responses.RequestsMock, make_client: MakeClient, sleeps: list[float]
) -> None:
    script(mocked, [502, OK])
    client = make_client(deadline=1.0)
    client._transport.backoff = lambda retry: 5.0

    with pytest.raises(wo.InvalidResponseError) as caught:
        client.get_open_account()

    assert caught.value.status_code == 502
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_an_attempt_that_would_start_after_the_deadline_is_not_sent(
    mocked: responses.RequestsMock, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(mocked, [OK])
    client = make_client(deadline=10.0)
    clock = iter([100.0, 200.0, 200.0, 200.0])
    monkeypatch.setattr(transport, "time", SimpleNamespace(monotonic=lambda: next(clock)))

    with pytest.raises(wo.RequestTimeoutError, match="deadline of 10s passed before"):
        client._transport.call(PATH, {}, client._settings, 110.0, token="token")

    assert len(mocked.calls) == 0


@pytest.mark.parametrize("retry", [1, 2, 3, 5, 10, 50])
def test_backoff_is_full_jitter_exponential_and_capped(retry: int) -> None:
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry - 1))
    assert backoff_delay(retry, rand=lambda: 0.0) == 0.0
    assert backoff_delay(retry, rand=lambda: 1.0) == ceiling
    assert 0.0 <= backoff_delay(retry) <= ceiling
    assert backoff_delay(50, rand=lambda: 1.0) == BACKOFF_CAP


def test_a_deadline_that_passes_between_two_reads_stops_the_read(
    mocked: responses.RequestsMock, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(mocked, [OK])
    client = make_client(deadline=10.0)
    readings = iter([0.0, 0.0, 1.0])  # call start, attempt start, before the first read

    def clock() -> float:
        return next(readings, 50.0)  # then the deadline is long gone

    monkeypatch.setattr(transport, "time", SimpleNamespace(monotonic=clock))
    monkeypatch.setattr(reader, "time", SimpleNamespace(monotonic=clock))
    with pytest.raises(wo.RequestTimeoutError, match="passed while reading the answer"):
        client._transport.call(PATH, {}, client._settings, 10.0, token="token")
