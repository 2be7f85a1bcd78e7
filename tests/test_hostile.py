"""Hostile servers: a deadline over every byte (head, chunk-size lines, body), 1xx answers
skipped, and no server-supplied text that reaches a message unmasked. Raw sockets on
127.0.0.1, each test's server serving one connection and stopping by itself."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Iterator, List

import pytest

import wechat_openapi as wo
from tests.conftest import TOKEN, MakeClient
from wechat_openapi.testing import FakeWeChat, Fault

# Every test here runs on both ways of sending (see conftest.either_send_path).
pytestmark = pytest.mark.usefixtures("either_send_path")

BODY = b'{"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"}'


class ScriptedServer:
    """Answers each connection's first request with ``fast`` at once, then ``slow`` one byte
    every ``interval`` seconds, until the client hangs up or the bytes run out."""

    def __init__(self, fast: bytes, slow: bytes = b"", interval: float = 0.2) -> None:
        self.fast, self.slow, self.interval = fast, slow, interval
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(10)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            try:
                connection.sendall(self.fast)
                for index in range(len(self.slow)):
                    time.sleep(self.interval)
                    connection.sendall(self.slow[index : index + 1])
            except OSError:
                return  # the client gave up, as it should

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def servers() -> Iterator[List[ScriptedServer]]:
    made: List[ScriptedServer] = []
    yield made
    for server in made:
        server.close()


def head(length: int = len(BODY)) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
        length
    )


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        pytest.param(b"", head() + BODY, id="status line and headers"),
        pytest.param(b"HTTP/1.1 200 OK\r\n", b"X-Padding: " + b"a" * 200 + b"\r\n", id="headers"),
        pytest.param(CHUNKED_HEAD, b"0" * 200 + b"37\r\n" + BODY, id="chunk-size line"),
        pytest.param(head(), BODY, id="body"),
    ],
)
def test_a_trickle_anywhere_in_the_answer_ends_at_the_deadline(
    servers: List[ScriptedServer], make_client: MakeClient, fast: bytes, slow: bytes
) -> None:
    server = ScriptedServer(fast, slow)
    servers.append(server)
    deadline = 1
    client = make_client(base_url=server.url, deadline=deadline, max_retries=0)
    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="deadline of 1s passed"):
        client.get_open_account()
    # The slow part takes about 11 s or more: a bound at half that leaves a busy machine room.
    assert deadline <= time.monotonic() - started < 11 / 2


def test_an_early_hints_answer_is_skipped(
    servers: List[ScriptedServer], make_client: MakeClient
) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    server = ScriptedServer(early + early + head() + BODY)
    servers.append(server)
    assert make_client(base_url=server.url).get_open_account().open_appid == "wxopen"


# Server-supplied text is masked first, cut after ---------------------------------------------


def failure_text(fake: FakeWeChat, make_client: MakeClient, fault: Fault) -> str:
    fake.inject(fault)
    client = make_client(base_url=fake.url, max_retries=0)
    with pytest.raises(wo.WeChatError) as caught:
        client.get_open_account()
    return str(caught.value) + repr(caught.value.args)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.respond(502, b"", content_type=f"text/html; v={TOKEN}"), id="type"),
        pytest.param(Fault.respond(200, b"<p>", content_type="x" * 70 + TOKEN), id="type cut"),
        pytest.param(
            Fault.respond(200, b"x", headers=(("Content-Encoding", f"br-{TOKEN}"),)),
            id="encoding",
        ),
        pytest.param(Fault.respond(200, b"<p>" + b"x" * 100 + TOKEN.encode()), id="preview cut"),
        pytest.param(
            Fault.respond(200, json.dumps({"errcode": "x" * 30 + TOKEN}).encode()),
            id="errcode cut",
        ),
        pytest.param(
            Fault.respond(200, json.dumps({"open_appid": ["x" * 28 + TOKEN]}).encode()),
            id="model field cut",
        ),
        pytest.param(Fault.raw(b"HTTP/1.1 502 " + TOKEN.encode() + b"\r\n\r\n"), id="reason"),
    ],
)
def test_no_server_text_shows_the_token_or_part_of_it(
    wechat_fake: FakeWeChat, make_client: MakeClient, fault: Fault
) -> None:
    wechat_fake.add_account("wxshop", token=TOKEN, open_appid="wxopen")
    text = failure_text(wechat_fake, make_client, fault)
    assert TOKEN[:8] not in text  # "SENTINEL": not even the first characters of the token
