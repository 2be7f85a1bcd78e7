"""The library logs each attempt at DEBUG (path, status, errcode, time, attempt), never more."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import MakeClient
from tests.scripted_server import ScriptedServer, json_reply

OK = json_reply({"errcode": 0, "open_appid": "wx"})
BUSY = json_reply({"errcode": -1, "errmsg": "system error"})


def test_each_attempt_is_one_debug_record_with_path_status_errcode_time_and_attempt(
    server: ScriptedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wechat_openapi")
    server.script(BUSY, OK)

    make_client(base_url=server.url).get_open_account()

    ours = [record.getMessage() for record in caplog.records if record.name == "wechat_openapi"]
    assert len(ours) == 2
    pattern = r"POST /cgi-bin/open/get attempt {}/3: HTTP 200, errcode={}, \d+\.\d ms"
    assert re.fullmatch(pattern.format(1, -1), ours[0])
    assert re.fullmatch(pattern.format(2, 0), ours[1])
    assert all("?" not in message for message in ours)


def test_failed_attempts_name_the_error_class(
    server: ScriptedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wechat_openapi")
    server.script(json_reply({}, status=503), OK)
    make_client(base_url=server.url).get_open_account()
    first = next(r for r in caplog.records if r.name == "wechat_openapi").getMessage()
    assert "HTTP 503, InvalidResponseError" in first


def test_nothing_is_logged_at_info_or_above_on_success(
    server: ScriptedServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.script(BUSY, OK)
    make_client(base_url=server.url).get_open_account()
    assert [r for r in caplog.records if r.name.startswith("wechat_openapi")] == []
