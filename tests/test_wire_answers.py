"""What a server can put on the wire that no well-behaved one does, over a raw socket: a
Content-Length that is not ASCII digits, a status other than 200 with a body, an
``expires_in`` out of any token's range, and a second answer on a kept-alive connection.
Each ends in a model or a WeChatError, never a foreign exception or another call's answer."""

from __future__ import annotations

import gc
import os
import socket
import threading
from typing import Any, Callable, Iterator, List

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN, MakeClient
from tests.raw_support import (
    OUR_POOL,
    WAIT,
    WAYS,
    RawServer,
    Request,
    answering,
    body,
    chunked,
    with_length,
)
from wechat_openapi import _reader
from wechat_openapi.models import MAX_EXPIRES_IN


def close_delimited_with(content_length: bytes) -> Callable[[Request], bytes]:
    def answer(request: Request) -> bytes:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n"
        return head % content_length + body("wx")

    return answer


@pytest.mark.parametrize(
    "content_length",
    [
        # http.client reads a head as Latin-1, where byte B2 is '²', a digit to str.isdigit
        pytest.param("²".encode("latin-1"), id="superscript two"),
        pytest.param("5²".encode("latin-1"), id="a digit and a superscript"),
        pytest.param(b"9" * 30, id="30 digits"),
        pytest.param(b"9" * 5000, id="5000 digits"),
        pytest.param(b"-5", id="negative"),
        pytest.param(b"0x37", id="hexadecimal"),
    ],
)
def test_a_content_length_that_is_not_ascii_digits_is_not_trusted(
    raw_servers: List[RawServer], way: Any, content_length: bytes
) -> None:
    """The body is then read to the end of the connection, within the size cap."""
    server = RawServer(answering(close_delimited_with(content_length), keep=False))
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way) as client:
        assert client.get_open_account().open_appid == "wx"


@pytest.mark.parametrize("status", [201, 202, 203, 205, 206, 226, 299])
def test_only_a_200_is_an_answer(raw_servers: List[RawServer], way: Any, status: int) -> None:
    answer = with_length(body("wx"), status=b"%d Whatever" % status)
    server = RawServer(answering(lambda request: answer))
    raw_servers.append(server)
    client = wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way)
    with client, pytest.raises(wo.InvalidResponseError, match=f"HTTP {status}") as caught:
        client.get_open_account()
    assert caught.value.status_code == status


def stable_token_answer(expires_in: bytes) -> Callable[[Request], bytes]:
    def answer(request: Request) -> bytes:
        if request.path == "/cgi-bin/stable_token":
            issued = b'{"access_token": "ISSUED%s", "expires_in": %s}' % (b"x" * 40, expires_in)
            return with_length(issued)
        return with_length(body("wx"))

    return answer


@pytest.mark.parametrize(
    "expires_in",
    [
        pytest.param(b"1" + b"0" * 400, id="10**400"),
        pytest.param(b"1e400", id="1e400, an infinite float"),
        pytest.param(b"0", id="zero"),
        pytest.param(b"-7200", id="negative"),
        pytest.param(b"%d" % (MAX_EXPIRES_IN + 1), id="over a week"),
        pytest.param(b'"1' + b"0" * 400 + b'"', id="10**400 as a string"),
    ],
)
def test_an_expires_in_out_of_range_is_an_invalid_response(
    raw_servers: List[RawServer], make_client: MakeClient, expires_in: bytes
) -> None:
    server = RawServer(answering(stable_token_answer(expires_in)))
    raw_servers.append(server)
    client = wo.Client.from_stable_token("wxappid", "appsecret", base_url=server.url)
    with client, pytest.raises(wo.InvalidResponseError, match="'expires_in'"):
        client.get_open_account()


@pytest.mark.parametrize("expires_in", [b"1", b"7200", b"%d" % MAX_EXPIRES_IN])
def test_an_expires_in_within_range_is_taken(
    raw_servers: List[RawServer], expires_in: bytes
) -> None:
    server = RawServer(answering(stable_token_answer(expires_in)))
    raw_servers.append(server)
    with wo.Client.from_stable_token("wxappid", "appsecret", base_url=server.url) as client:
        assert client.get_open_account().open_appid == "wx"


# A second answer on a kept-alive connection ------------------------------------------------


def named(request: Request) -> bytes:
    """An answer naming the connection and the request on it it answers."""
    return with_length(body(f"wx{request.connection}-{request.index}"))


def test_an_answer_sent_after_the_answer_is_not_read_by_the_next_call(
    raw_servers: List[RawServer], way: Any
) -> None:
    """The extra answer arrives 50 ms after the first, before the next call: the connection
    is not used again (urllib3 looks before it reuses one, and so do we, after each read)."""
    sent = threading.Event()

    def handle(connection: socket.socket, request: Request) -> bool:
        connection.sendall(named(request))
        if request.connection == 0 and request.index == 0:
            sent.wait(0.05)  # not set by anyone: a pause that is only a pause
            connection.sendall(with_length(body("wxSMUGGLED")))
            sent.set()
        return True

    server = RawServer(handle)
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way) as client:
        assert client.get_open_account().open_appid == "wx0-0"
        assert sent.wait(WAIT)
        assert client.get_open_account().open_appid == "wx1-0"


@pytest.mark.parametrize(
    "unusable",
    [
        pytest.param(b"<html>busy</html>", id="not JSON"),
        pytest.param(b'{"errcode": "zero"}', id="errcode not a number"),
        pytest.param(b'{"errcode": 0, "open_appid": 5}', id="no model from it"),
    ],
)
def test_a_connection_that_gave_an_unusable_answer_is_not_used_again(
    raw_servers: List[RawServer], way: Any, unusable: bytes
) -> None:
    """An answer we cannot use may be another request's, with this one's still to come: the
    next call, under another token, must not read it from the same connection (a campaign
    found call 216 returning call 214's answer this way)."""

    def handle(connection: socket.socket, request: Request) -> bool:
        if (request.connection, request.index) == (0, 1):
            connection.sendall(with_length(unusable))  # and this request's answer only later:
        elif (request.connection, request.index) == (0, 2):
            connection.sendall(named(Request(0, 1, b"", b"")))  # once the next one was sent
        else:
            connection.sendall(named(request))
        return True

    server = RawServer(handle)
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way) as client:
        assert client.get_open_account().open_appid == "wx0-0"
        with pytest.raises(wo.InvalidResponseError):
            client.get_open_account()
        other = client.with_options(access_token="another-account-token")
        assert other.get_open_account().open_appid == "wx1-0"  # on a new connection


# What follows an answer's body can be seen on every way but one: with a user's own session,
# http.client drops what follows a chunked body unseen (the README says so).
SEEN_AFTER_THE_BODY = [
    (way, framing)
    for way in WAYS
    for framing in ("Content-Length", "chunked")
    if (way, framing) != ("user session", "chunked")
]


def frame_by(framing: str) -> Callable[[bytes], bytes]:
    return chunked if framing == "chunked" else with_length


@pytest.mark.parametrize(("way", "framing"), SEEN_AFTER_THE_BODY, indirect=["way"])
@pytest.mark.parametrize("retries", [0, 1])
def test_an_answer_read_with_another_behind_it_is_not_trusted(
    raw_servers: List[RawServer],
    make_client: MakeClient,
    way: Any,
    framing: str,
    retries: int,
) -> None:
    """The extra answer arrives just before the next call's own: whichever is read first
    cannot be told to be this call's, so the call fails cleanly, or is tried again on a new
    connection, and never returns the extra one."""
    frame = frame_by(framing)

    def handle(connection: socket.socket, request: Request) -> bool:
        if (request.connection, request.index) == (0, 1):
            connection.sendall(frame(body("wxSMUGGLED")) + frame(body("wx0-1")))
        else:
            connection.sendall(frame(body(f"wx{request.connection}-{request.index}")))
        return True

    server = RawServer(handle)
    raw_servers.append(server)
    client = make_client(base_url=server.url, max_retries=retries, **way)
    assert client.get_open_account().open_appid == "wx0-0"
    if retries:
        assert client.get_open_account().open_appid == "wx1-0"
    else:
        with pytest.raises(wo.TransportError, match="more arrived after the answer") as caught:
            client.get_open_account()
        assert caught.value.retryable
    assert client.get_open_account().open_appid.startswith("wx1-")  # a new connection


@pytest.mark.parametrize(("way", "framing"), SEEN_AFTER_THE_BODY, indirect=["way"])
def test_a_connection_with_bytes_after_the_answer_is_not_used_again(
    raw_servers: List[RawServer], way: Any, framing: str
) -> None:
    """Blank lines after an answer (some servers send them) leave it trusted, but the
    connection is dropped."""
    frame = frame_by(framing)

    def answer(request: Request) -> bytes:
        return frame(body(f"wx{request.connection}-{request.index}")) + b"\r\n"

    server = RawServer(answering(answer))
    raw_servers.append(server)
    with wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way) as client:
        answers = [client.get_open_account().open_appid for _ in range(2)]
    assert answers == ["wx0-0", "wx1-0"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The garbage collector off: a socket only it would close stays open where a test sees
    it, instead of being closed at some later moment with a ResourceWarning."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("way", OUR_POOL, indirect=True)
def test_an_answer_urllib3_refuses_keeps_no_socket_open(
    raw_servers: List[RawServer], way: Any, no_collector: None
) -> None:
    """Two Content-Lengths that differ: urllib3 refuses the head and drops http.client's
    answer unclosed, whose file holds a reference on the socket."""
    answer = with_length(body("wx")).replace(b"Content-Length: ", b"Content-Length: 99, ")
    server = RawServer(answering(lambda request: answer, keep=False))
    raw_servers.append(server)
    client = wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0, **way)
    before = open_fds()
    with pytest.raises(wo.TransportError, match="Content-Length"):
        client.get_open_account()
    server.close()
    assert open_fds() <= before - 1  # server.close() closed its listener too
    client.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_closed_client_holds_no_socket_while_it_is_still_referenced(
    raw_servers: List[RawServer], no_collector: None
) -> None:
    """urllib3 2's PoolManager.clear() leaves its pools to the garbage collector: the pool
    the client's own calls use is closed by close() itself."""
    server = RawServer(answering(lambda request: with_length(body("wx"))))
    raw_servers.append(server)
    before = open_fds()
    client = wo.Client(access_token=TOKEN, base_url=server.url)
    assert client.get_open_account().open_appid == "wx"
    client.close()
    server.close()  # its side of the connection, and its listener
    assert open_fds() <= before - 1
    assert client  # still referenced


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        pytest.param('{"a": ' + "[" * 101 + "1" + "]" * 101 + "}", True, id="101 deep"),
        pytest.param('{"a": ' + "[" * 98 + "1" + "]" * 98 + "}", False, id="99 deep"),
        pytest.param('{"a": "' + "[" * 5000 + '"}', False, id="brackets in a string"),
        pytest.param('{"a": "\\"' + "{" * 5000 + '"}', False, id="after an escaped quote"),
        pytest.param("[" * 200 + "]" * 200, True, id="flat brackets, deep"),
    ],
)
def test_only_json_nested_past_the_limit_is_refused_before_parsing(text: str, deep: bool) -> None:
    """Parsing JSON 5,000 deep recursed to the interpreter's limit, where a finalizer the
    garbage collector ran meanwhile failed too (a CI run saw 8 of them): such a body is refused
    first, without counting brackets inside strings."""
    assert _reader._nested_deeper_than(text.encode(), 100) is deep


def test_an_answer_nested_5000_deep_is_an_invalid_response(raw_servers: List[RawServer]) -> None:
    nested = b'{"errcode": 0, "open_appid": ' + b"[" * 5000 + b'"wx"' + b"]" * 5000 + b"}"
    server = RawServer(answering(lambda request: with_length(nested)))
    raw_servers.append(server)
    client = wo.Client(access_token=TOKEN, base_url=server.url, max_retries=0)
    with client, pytest.raises(wo.InvalidResponseError, match="nested deeper than 100 levels"):
        client.get_open_account()
