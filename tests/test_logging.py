"""The library logs each attempt at DEBUG (path, outcome, time, attempt), never more."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import MakeClient
from wechat_openapi.testing import FakeWeChat, Fault


def our_messages(caplog: pytest.LogCaptureFixture) -> list:
    return [r.getMessage() for r in caplog.records if r.name.startswith("wechat_openapi")]


def test_each_attempt_is_one_debug_record_with_path_status_errcode_time_and_attempt(
    wechat_fake: FakeWeChat, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wechat_openapi")
    wechat_fake.inject(Fault.system_busy())

    fake_client().get_open_account()

    ours = our_messages(caplog)
    assert len(ours) == 2
    pattern = r"POST /cgi-bin/open/get attempt {}/3: {}, \d+\.\d ms"
    assert re.fullmatch(pattern.format(1, "errcode=-1 SystemBusyError"), ours[0])
    assert re.fullmatch(pattern.format(2, "errcode=0"), ours[1])
    assert all("?" not in message for message in ours)


def test_failed_attempts_name_the_error_class(
    wechat_fake: FakeWeChat, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wechat_openapi")
    wechat_fake.inject(Fault.respond(503, b"{}"))
    fake_client().get_open_account()
    assert ": HTTP 503 InvalidResponseError, " in our_messages(caplog)[0]


def test_nothing_is_logged_at_info_or_above_on_success(
    wechat_fake: FakeWeChat, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wechat_fake.inject(Fault.system_busy())
    fake_client().get_open_account()
    assert our_messages(caplog) == []
