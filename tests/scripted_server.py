"""A tiny HTTP/1.1 server on 127.0.0.1 whose answers each test scripts, for transport tests.

It speaks raw bytes over real sockets, so tests can do what a mock cannot: trickle a body,
stall, cut a connection mid-body, or count TCP connections. (The WeChat-semantics fake for
users lives in the package; this one only plays back what a test tells it.)
"""

from __future__ import annotations

import itertools
import json
import socket
import socketserver
import threading
import time
from typing import Any, Callable

import attr


@attr.s(auto_attribs=True)
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        return json.loads(self.body)


@attr.s(auto_attribs=True)
class Reply:
    """What to send back. ``trickle`` sends the body a byte at a time with that pause;
    ``stall`` waits that long before answering; ``cut_after`` closes the connection after
    that many body bytes; ``raw`` replaces the whole answer with these bytes."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = attr.Factory(dict)
    trickle: float = 0.0
    stall: float = 0.0
    cut_after: int | None = None
    raw: bytes | None = None
    chunked: bool = False


def json_reply(payload: Any, status: int = 200, **options: Any) -> Reply:
    return Reply(status=status, body=json.dumps(payload).encode(), **options)


class ScriptedServer:
    """Start with ``with ScriptedServer() as server``; queue replies with ``server.script``.

    When the queue is empty the ``default`` reply is used. ``seen`` lists the requests and
    ``connections`` counts accepted TCP connections.
    """

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or json_reply({"errcode": 0, "errmsg": "ok"})
        self.replies: list[Reply] = []
        self.responder: Callable[[Seen], Reply] | None = None
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with server._lock:
                    server.connections += 1
                    connection = next(server._ids)
                while not server._stopping.is_set():
                    seen = server._read_request(self.rfile, connection)
                    if seen is None:
                        return
                    if not server._answer(self.connection, seen):
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def __enter__(self) -> ScriptedServer:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _read_request(self, rfile: Any, connection: int) -> Seen | None:
        try:
            line = rfile.readline()
            if not line:
                return None
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = rfile.readline().decode("latin-1")
                if header in ("\r\n", "\n", ""):
                    break
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = rfile.read(int(headers.get("content-length", "0")))
        except (OSError, ValueError):
            return None
        seen = Seen(method, target, headers, body, connection)
        with self._lock:
            self.seen.append(seen)
        return seen

    def _next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        return self.responder(seen) if self.responder else self.default

    def _answer(self, sock: socket.socket, seen: Seen) -> bool:
        """Send the scripted reply; False when the connection is to be dropped."""
        reply = self._next_reply(seen)
        if reply.stall and self._stopping.wait(reply.stall):
            return False
        try:
            if reply.raw is not None:
                sock.sendall(reply.raw)
                return False
            head = [f"HTTP/1.1 {reply.status} Scripted"]
            headers = {"Content-Type": "application/json", **reply.headers}
            if reply.chunked:
                headers["Transfer-Encoding"] = "chunked"
            else:
                headers.setdefault("Content-Length", str(len(reply.body)))
            head += [f"{name}: {value}" for name, value in headers.items()]
            start = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
            body = reply.body[: reply.cut_after] if reply.cut_after is not None else reply.body
            if reply.chunked:
                sock.sendall(start + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            elif reply.trickle:
                sock.sendall(start)
                for index in range(len(body)):
                    if self._stopping.is_set():
                        return False
                    sock.sendall(body[index : index + 1])
                    time.sleep(reply.trickle)
            else:
                sock.sendall(start + body)
        except OSError:
            return False
        return reply.cut_after is None
