"""The access token never shows: not in messages, reprs, tracebacks, pickles or log records."""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
import traceback
from typing import Tuple
from urllib.parse import quote

import pytest
import responses

import wechat_openapi as wo
from tests.conftest import MOCK_BASE, TOKEN, MakeClient
from tests.test_transport import refused_url
from wechat_openapi._redact import (
    LOGGERS,
    RedactTokenFilter,
    held,
    in_flight,
    install_log_redaction,
    released,
    scrub,
    shown,
)
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


def test_the_log_filter_keeps_a_malformed_record_as_masked_text() -> None:
    """A record whose message cannot be formatted keeps its parts, masked: logging would
    otherwise print them unmasked when it reports the formatting error."""
    record = logging.LogRecord(
        "urllib3.connectionpool", logging.DEBUG, "f", 1, "%s %s", (TOKEN,), None
    )
    key = held(Carried((TOKEN,)))
    try:
        assert RedactTokenFilter().filter(record) is True
    finally:
        released(key)
    assert record.args == ()
    assert record.getMessage() == "%s %s ('***',)"


def test_installing_the_log_filter_twice_adds_it_once() -> None:
    install_log_redaction()
    install_log_redaction()
    filters = logging.getLogger("urllib3.connectionpool").filters
    assert sum(isinstance(f, RedactTokenFilter) for f in filters) == 1


LONG = "L" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-" * 2  # 129


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("a SECRET b", ["SECRET"], "a *** b"),
        ("q?access_token=abc&x=1", [], "q?access_token=***&x=1"),
        ("tok%2Fen and tok/en", ["tok/en"], "*** and ***"),
        ("nothing", [""], "nothing"),
        # A server's half-copy: any run of 16 characters of a secret, glued or not.
        (f"a {LONG[5:21]} b", [LONG], "a *** b"),
        (f"a{LONG[40:]}b", [LONG], "a***b"),
        (f"{LONG[:15]} {LONG[20:35]}", [LONG], f"{LONG[:15]} {LONG[20:35]}"),
        (f"{LONG[:30]}{LONG[50:80]}", [LONG], "******"),
        # Escaped by repr or JSON.
        (repr(["sec\\ret-" + LONG]), ["sec\\ret-" + LONG], "['***']"),
        (json.dumps({"k": 'se"c'}), ['se"c'], '{"k": "***"}'),
        (repr(["s\\e"]), ["s\\e"], "['***']"),
    ],
)
def test_scrub(text: str, secrets: list[str], expected: str) -> None:
    assert scrub(text, secrets) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # Masked first: the copies shrink, and what follows them comes into view whole.
        (LONG * 40 + " tail", 200, "***" * 40 + " tail"),
        ("x" * 10 + LONG * 100, 20, "x" * 10 + "*" * 10 + "..."),
        ("short", 10, "short"),
        ("y" * 30, 10, "y" * 10 + "..."),
        # A copy that straddles where the text would be cut is masked whole.
        ("z" * 15 + LONG, 20, "z" * 15 + "***"),
    ],
)
def test_shown_masks_first_and_cuts_after(text: str, limit: int, expected: str) -> None:
    assert shown(text, [LONG], limit) == expected


def test_shown_trusts_no_secret_cut_at_the_end_of_an_incomplete_text() -> None:
    """The start of a longer text may end in the first characters of a secret: they are
    never shown."""
    assert shown("a" * 10 + LONG[:12], [LONG], 100, complete=False) == "..."
    assert shown("a" * 300 + LONG[:12], [LONG], 100, complete=False) == "a" * 100 + "..."


def test_shown_bounds_its_work_on_a_text_made_of_secrets() -> None:
    text = LONG * 10_000  # 1.3 million characters, each copy masked to 3
    result = shown(text, [LONG], 300)
    assert LONG[:16] not in result
    assert len(result) <= 303


# Secrets in flight ---------------------------------------------------------------------------


class Carried:
    """The secrets of a request in flight, as a CallContext carries them."""

    def __init__(self, secrets: Tuple[str, ...]) -> None:
        self.secrets = secrets


def record_with(secret: str) -> logging.LogRecord:
    try:
        raise ValueError(f"unparsed data: {secret!r}")
    except ValueError:
        return logging.LogRecord(
            "urllib3.connection",
            logging.WARNING,
            "f",
            1,
            "Failed to parse headers (url=%s): %s",
            (f"/p?access_token={secret}", secret),
            sys.exc_info(),
            sinfo=f"Stack (most recent call last):\n  {secret}",
        )


def test_the_log_filter_masks_a_secret_in_flight_in_every_part_of_a_record() -> None:
    record = record_with(LONG)
    key = held(Carried(("other", LONG)))
    try:
        RedactTokenFilter().filter(record)
    finally:
        released(key)
    assert record.getMessage() == "Failed to parse headers (url=/p?access_token=***): ***"
    assert record.exc_info is None  # the exception object would carry the secret
    assert "ValueError: unparsed data: '***'" in str(record.exc_text)
    assert record.stack_info == "Stack (most recent call last):\n  ***"
    assert LONG[:16] not in logging.Formatter().format(record)


def test_a_secret_is_held_only_while_its_call_runs() -> None:
    first, second = held(Carried((LONG,))), held(Carried((LONG, "another")))
    assert set(in_flight()) == {LONG, "another"}
    released(first)
    assert set(in_flight()) == {LONG, "another"}  # the second call still carries it
    released(second)
    assert LONG not in in_flight()
    record = record_with(LONG)
    RedactTokenFilter().filter(record)
    assert record.getMessage().endswith(LONG)  # nothing in flight: left as it is


@pytest.mark.parametrize("name", LOGGERS)
def test_every_logger_of_urllib3_and_ours_masks_secrets_in_flight(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = held(Carried((LONG,)))
    try:
        logging.getLogger(name).warning("quoted: %s", LONG)
    finally:
        released(key)
    assert caplog.records[-1].getMessage() == "quoted: ***"


def test_runs_of_a_repetitive_secret_in_repetitive_text_take_bounded_time() -> None:
    """A server padded its answer with the padding of a secret it echoed: the search for
    runs gives up on the rest of the text (masking it) instead of taking quadratic time."""
    secret = "x" * 60_000 + "END"
    started = time.process_time()
    result = scrub("y" + "x" * 60_000, [secret])
    assert time.process_time() - started < 5
    assert "x" * 16 not in result
    assert result.startswith("y")
