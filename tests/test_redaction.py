"""The access token never shows: not in messages, reprs, tracebacks, pickles or log records."""

from __future__ import annotations

import logging
import pickle
import traceback
from urllib.parse import quote

import pytest
import responses

import wechat_openapi as wo
from tests.conftest import MOCK_BASE, TOKEN, MakeClient
from tests.scripted_server import Reply, ScriptedServer, json_reply
from tests.test_transport import refused_url
from wechat_openapi._redact import RedactTokenFilter, install_log_redaction, scrub

ECHOED = f"invalid credential, access_token={TOKEN} is not valid rid: 1a2b3c4d-5e6f7a8b-9c0d1e2f"

FAULTS: list[Reply] = [
    Reply(stall=5.0),
    Reply(body=b"x" * 5000),
    Reply(body=b"y" * 50, cut_after=3),
    Reply(status=502, body=b"<html>bad gateway</html>"),
    Reply(body=b"<html>echo: /cgi-bin/open/get?access_token=" + TOKEN.encode() + b"</html>"),
    Reply(body=b""),
    Reply(body=b'{"errcode": 0, "open_appid"'),
    Reply(body=b"z" * 10, trickle=0.2),
    json_reply({"errcode": 40001, "errmsg": ECHOED}),
    json_reply({"errcode": -1, "errmsg": f"busy {TOKEN}"}),
    json_reply({"errcode": "x" + TOKEN}),
    json_reply({"errcode": 0}),
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


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: repr(fault)[:60])
def test_the_token_is_absent_from_every_failure(
    server: ScriptedServer,
    make_client: MakeClient,
    fault: Reply,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # root, so urllib3's own records are captured too
    server.script(fault)
    client = make_client(
        base_url=server.url, timeout=(1, 0.5), deadline=1.0, max_retries=0, max_response_bytes=1000
    )

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
