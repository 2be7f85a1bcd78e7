"""A loopback server that answers each request with exact bytes, for the tests of what the
wire allows (framings, statuses, odd headers, extra answers): no HTTP library on its side,
so it can send what no library would."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
import requests

from wechat_openapi import _direct, _transport

WAIT = 10.0  # seconds any step of a test may wait for the server: a bound, never a pace

OK_BODY = b'{"errcode": 0, "errmsg": "ok", "open_appid": "%s"}'


def body(open_appid: str) -> bytes:
    """An open/get answer naming ``open_appid``: which answer a call read."""
    return OK_BODY % open_appid.encode("ascii")


def with_length(payload: bytes, status: bytes = b"200 OK", version: bytes = b"HTTP/1.1") -> bytes:
    """An answer framed by Content-Length."""
    head = b"%s %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
        version,
        status,
        len(payload),
    )
    return head + payload


def chunked(payload: bytes) -> bytes:
    """An HTTP/1.1 answer in two chunks and the last, empty one."""
    half = len(payload) // 2
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:half], payload[half:])
    )
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + chunks + b"0\r\n\r\n"


class Request:
    """One request as it arrived: its number on its connection and across the server."""

    def __init__(self, connection: int, index: int, head: bytes, payload: bytes) -> None:
        self.connection = connection  # 0-based, in the order the server accepted them
        self.index = index  # 0-based, on its connection
        self.head = head
        self.payload = payload

    @property
    def path(self) -> str:
        return self.head.split(b" ", 2)[1].split(b"?", 1)[0].decode("ascii")


# What the server does with a request: send bytes on the socket (as many times as it likes)
# and say whether the connection stays open for another request.
Handler = Callable[[socket.socket, Request], bool]


class RawServer:
    """Serves each connection on a thread of its own with ``handler``; ``close`` stops it."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: List[Request] = []
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: List[threading.Thread] = []
        self._open: List[socket.socket] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                number = self.connections
                self.connections += 1
                self._open.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket, number: int) -> None:
        connection.settimeout(WAIT)
        pending = b""
        index = 0
        try:
            while True:
                request, pending = _read_request(connection, pending)
                if request is None:
                    return
                head, payload = request
                arrived = Request(number, index, head, payload)
                with self._lock:
                    self.requests.append(arrived)
                if not self.handler(connection, arrived):
                    return
                index += 1
        except OSError:
            return  # the client hung up, or the test ended
        finally:
            connection.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(WAIT)


def _read_request(
    connection: socket.socket, pending: bytes
) -> Tuple[Optional[Tuple[bytes, bytes]], bytes]:
    """The next request's head and body, and what arrived after them; (None, b"") when the
    client closed first."""
    while b"\r\n\r\n" not in pending:
        data = connection.recv(65536)
        if not data:
            return None, b""
        pending += data
    head, rest = pending.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = connection.recv(65536)
        if not data:
            return None, b""
        rest += data
    return (head, rest[:length]), rest[length:]


def answering(answers: Callable[[Request], Optional[bytes]], keep: bool = True) -> Handler:
    """A handler sending ``answers(request)`` whole (nothing when None), then keeping the
    connection open for the next request or not."""

    def handle(connection: socket.socket, request: Request) -> bool:
        answer = answers(request)
        if answer:
            connection.sendall(answer)
        return keep

    return handle


WAYS = ["direct route", "urlopen", "adapter.send", "user session"]
OUR_POOL = WAYS[:3]  # the ways that read through our pool's connections

# The method each way goes through.
_SENDS_THROUGH = {
    "direct route": (_direct.DirectRoute, "send"),
    "urlopen": (_transport.Transport, "_urlopen"),
    "adapter.send": (_transport.Transport, "_send"),
    "user session": (_transport.Transport, "_send"),
}


@pytest.fixture
def raw_servers() -> Iterator[List[RawServer]]:
    made: List[RawServer] = []
    yield made
    for server in made:
        server.close()


@pytest.fixture(params=WAYS)
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """How the client sends: returns the Client options for it, and checks afterwards that
    the call went that way."""
    sent: List[str] = []
    for way_name, (owner, name) in _SENDS_THROUGH.items():
        original = getattr(owner, name)

        def spy(self: Any, *args: Any, _original: Any = original, _way: str = way_name) -> Any:
            sent.append(_way)
            return _original(self, *args)

        monkeypatch.setattr(owner, name, spy)
    monkeypatch.setattr(_transport, "FAST_PATH", request.param in ("direct route", "urlopen"))
    monkeypatch.setattr(_transport, "DIRECT", request.param == "direct route")
    session = requests.Session() if request.param == "user session" else None
    yield {"session": session} if session is not None else {}
    expected = _SENDS_THROUGH[request.param]
    assert {_SENDS_THROUGH[name] for name in sent} <= {expected}
    if session is not None:
        session.close()
