"""The access token never shows: not in messages, reprs, tracebacks, pickles or log records."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from urllib.parse import quote

import pytest
import responses

import wechat_openapi as wo
from tests.conftest import MOCK_BASE, TOKEN, MakeClient
from tests.test_transport import refused_url
from wechat_openapi._redact import RedactTokenFilter, install_log_redaction, scrub
from wechat_openapi.testing import FakeWeChat, Fault

# Every test here runs on both ways of sending (see conftest.either_send_path).
pytestmark = pytest.mark.usefixtures("either_send_path")

ECHOED = f"invalid credential, access_token={TOKEN} is not valid"

FAULTS = [
    Fault.delay(5.0),
    Fault.respond(200, b"x" * 5000),
    Fault.huge(10_000),
    Fault.cut(3),
    Fault.reset(),
    Fault.bad_gateway(),
    Fault.html(),
    Fault.respond(
        200, b"<html>echo: /cgi-bin/open/get?access_token=" + TOKEN.encode() + b"</html>"
    ),
    Fault.empty(),
    Fault.truncated_json(),
    Fault.trickle(0.2),
    Fault.raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    Fault.api_error(40001, ECHOED),
    Fault.api_error(-1, f"busy {TOKEN}"),
    Fault.respond(200, json.dumps({"errcode": "x" + TOKEN}).encode()),
    Fault.respond(200, b'{"errcode": 0}'),
]


def texts_of(error: BaseException) -> list[str]:
    """Every text a user, a log handler or an error tracker can get from an exception."""
    return [
        str(error),
        repr(error),
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        repr(vars(error)),
        repr(pickle.loads(pickle.dumps(error)).args),
    ]


def assert_hidden(texts: list[str]) -> None:
    for text in texts:
        assert TOKEN not in text
        assert quote(TOKEN) not in text


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.kind)
def test_the_token_is_absent_from_every_failure(
    wechat_fake: FakeWeChat,
    fake_client: MakeClient,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # root, so urllib3's own records are captured too
    wechat_fake.inject(fault)
    client = fake_client(timeout=(1, 0.5), deadline=1.0, max_retries=0, max_response_bytes=1000)

    with pytest.raises(wo.WeChatError) as caught:
        client.get_open_account()

    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert_hidden(texts_of(caught.value))
    assert_hidden([repr(client)])
    assert_hidden([record.getMessage() for record in caplog.records])
    assert any(record.name.startswith("urllib3") for record in caplog.records)


def test_the_token_is_absent_when_the_connection_is_refused(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(wo.TransportError) as caught:
        make_client(base_url=refused_url(), max_retries=1).get_open_account()
    assert "access_token=***" in str(caught.value)  # the cause's text is kept, masked
    assert_hidden(texts_of(caught.value))
    assert_hidden([record.getMessage() for record in caplog.records])


def test_the_token_is_absent_from_errors_raised_by_a_mocked_transport(
    mocked: responses.RequestsMock, make_client: MakeClient
) -> None:
    import requests

    url = f"{MOCK_BASE}/cgi-bin/open/get?access_token={TOKEN}"
    mocked.add(responses.POST, MOCK_BASE + "/cgi-bin/open/get", body=requests.ConnectionError(url))
    with pytest.raises(wo.TransportError) as caught:
        make_client(max_retries=0).get_open_account()
    assert_hidden(texts_of(caught.value))


@pytest.mark.parametrize(
    "message",
    [
        "POST /x?access_token=SECRETVALUE&a=1 200",
        "Incremented Retry for (url='/x?access_token=SECRETVALUE'): Retry(total=0)",
        "url=http://h/x?ACCESS_TOKEN=SECRETVALUE",
    ],
)
def test_the_urllib3_log_filter_masks_query_tokens(
    message: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug("%s", message)
    assert caplog.records[-1].getMessage().count("SECRETVALUE") == 0
    assert "***" in caplog.records[-1].getMessage()


def test_the_log_filter_passes_malformed_records_through_untouched() -> None:
    record = logging.LogRecord(
        "urllib3.connectionpool", logging.DEBUG, "f", 1, "%s %s", ("a",), None
    )
    assert RedactTokenFilter().filter(record) is True
    assert record.args == ("a",)


def test_installing_the_log_filter_twice_adds_it_once() -> None:
    install_log_redaction()
    install_log_redaction()
    filters = logging.getLogger("urllib3.connectionpool").filters
    assert sum(isinstance(f, RedactTokenFilter) for f in filters) == 1


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("a SECRET b", ["SECRET"], "a *** b"),
        ("q?access_token=abc&x=1", [], "q?access_token=***&x=1"),
        ("tok%2Fen and tok/en", ["tok/en"], "*** and ***"),
        ("nothing", [""], "nothing"),
    ],
)
def test_scrub(text: str, secrets: list[str], expected: str) -> None:
    assert scrub(text, secrets) == expected
