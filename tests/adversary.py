"""A seeded, hostile HTTP server on 127.0.0.1: raw sockets, one port, a thread per connection.

It answers every request with an answer drawn from ``random.Random(f"{seed}:{number}")``
(see :mod:`tests.adversary_answers`): valid answers in every faithful framing, mutated JSON,
bombs, bad framing, trickles, stalls, redirects, echoes of the request, and extra responses
on a kept-alive connection. Raw sockets, because no HTTP server library sends what a broken
relay sends.

It keeps a :class:`Record` of every request and what it was sent, and attributes each request
to the campaign call that made it: the driver registers a value unique to the call (its token,
appid or component appid) under the call's tag, and every token the server issues is
registered under the tag of the request that asked for it. So the checker can ask, for a
call, which secrets it must not leak (its own, and those the server issued to it) and which
request's answer a model came from.
"""

from __future__ import annotations

import contextlib
import json
import random
import select
import socket
import struct
import threading
import traceback
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlsplit

import attr

from tests.adversary_answers import REDIRECTED, Answer, Request, Timing, choose, framed, valid_body

_IDLE = 30.0  # seconds a kept-alive connection may sit idle before the server hangs up
_MAX_HEAD = 64 * 1024


@attr.s(auto_attribs=True)
class Record:
    """One request, the call it belongs to, and what it was answered."""

    number: int
    tag: Optional[str]
    path: str
    answer: Answer
    after_late_extra: bool  # came on a connection where a late extra answer had been sent
    previous: str = ""  # the kind of the answer before it on the same connection
    echoed: bool = False  # its answer quotes a secret (the request's, or one it issues)


class Adversary:
    """The server; use as a context manager. See the module's doc."""

    def __init__(self, seed: int, timing: Timing) -> None:
        self.seed = seed
        self.timing = timing
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._count = 0
        self.records: Dict[int, Record] = {}
        self._owner: Dict[str, str] = {}  # a value unique to a call -> the call's tag
        self._issued: Dict[str, List[str]] = {}  # tag -> secrets the server handed that call
        self._truncated: Dict[str, List[str]] = {}  # tag -> fragments echoed cut short
        self._requests: Dict[str, List[int]] = {}  # tag -> its requests' numbers
        self.redirects_followed: List[int] = []
        self.server_errors: List[str] = []  # the harness's own bugs: reported, never hidden
        self._stopping = threading.Event()
        self._connections: Set[socket.socket] = set()
        self._threads: List[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="adversary", daemon=True)

    def __enter__(self) -> Adversary:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # What the checker asks ----------------------------------------------------------------

    def register(self, tag: str, *values: str) -> None:
        """Requests carrying any of ``values`` (in the query or the JSON body) are ``tag``'s."""
        with self._lock:
            for value in values:
                self._owner[value] = tag

    def issued(self, tag: str) -> List[str]:
        with self._lock:
            return list(self._issued.get(tag, ()))

    def truncated(self, tag: str) -> List[str]:
        with self._lock:
            return list(self._truncated.get(tag, ()))

    def requests_of(self, tag: str) -> List[Record]:
        with self._lock:
            return [self.records[number] for number in self._requests.get(tag, ())]

    # Serving ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop accepting, hang up on every connection, and wait for every thread."""
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(
                target=self._serve, args=(connection,), name="adversary-conn", daemon=True
            )
            with self._lock:
                self._connections.add(connection)
                self._threads = [alive for alive in self._threads if alive.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self._converse(connection)
        except Exception:  # a bug of the harness: kept for the summary, never swallowed
            self.server_errors.append(traceback.format_exc())
        finally:
            with self._lock:
                self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def _converse(self, connection: socket.socket) -> None:
        connection.settimeout(_IDLE)
        pending = b""
        after_late_extra = False
        previous = ""
        while not self._stopping.is_set():
            parsed = _read_request(connection, pending)
            if parsed is None:
                return
            request_parts, pending = parsed
            request, record = self._record(request_parts, after_late_extra, previous)
            answer = record.answer
            previous = answer.kind
            sent = self._send(connection, answer, request)
            answer.segments = []  # sent: a campaign keeps what it needs, not megabytes of it
            if answer.extra is not None:
                answer.extra = (answer.extra[0], b"")
            if not sent:
                return
            if answer.stall:
                self._hold(connection, answer.stall)
            if answer.extra is not None and answer.extra[0]:
                after_late_extra = True
            if answer.close or answer.stall:
                if answer.kind == "no answer/close" and request.number % 2:
                    # an abortive close: the client sees a reset, not an end of stream
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                return

    def _record(
        self, parts: Tuple[str, str, bytes], after_late_extra: bool, previous: str
    ) -> Tuple[Request, Record]:
        method, target, body_bytes = parts
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            body = json.loads(body_bytes) if body_bytes else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        with self._lock:
            self._count += 1
            number = self._count
        request = Request(number, method, split.path, query, split.query, body, body_bytes)
        rng = random.Random(f"{self.seed}:{number}")
        if split.path.startswith(REDIRECTED):
            self.redirects_followed.append(number)
        answer = choose(request, rng, self.timing)
        extra_record: Optional[Record] = None
        if answer.extra is not None:
            answer.extra, extra_record = self._smuggled(request, answer.extra[0], rng)
        for index, (delay, data) in enumerate(answer.segments):
            if b"{port}" in data:
                answer.segments[index] = (delay, data.replace(b"{port}", str(self.port).encode()))
        candidates = list(query.values()) + [v for v in body.values() if isinstance(v, str)]
        with self._lock:
            tag = next((self._owner[v] for v in candidates if v in self._owner), None)
            record = Record(number, tag, split.path, answer, after_late_extra, previous)
            record.echoed = _quotes(answer, request.secrets() + answer.issued + answer.truncated)
            self.records[number] = record
            if tag is not None:
                self._requests.setdefault(tag, []).append(number)
                self._issued.setdefault(tag, []).extend(answer.issued)
                self._truncated.setdefault(tag, []).extend(answer.truncated)
                for value in answer.issued:
                    self._owner[value] = tag
            if extra_record is not None:
                extra_record.tag = tag
                self.records[extra_record.number] = extra_record
                if tag is not None:
                    self._issued[tag].extend(extra_record.answer.issued)
                    for value in extra_record.answer.issued:
                        self._owner[value] = tag
        return request, record

    def _smuggled(
        self, request: Request, late: bool, rng: random.Random
    ) -> Tuple[Tuple[bool, bytes], Record]:
        """The extra answer nobody asked for: valid, for the same path, with its own number
        (so a model built from it names a request its call never made)."""
        with self._lock:
            self._count += 1
            number = self._count
        ghost = attr.evolve(request, number=number)
        data, expected, issued = valid_body(ghost, rng)
        wire, _ = framed("length", 200, "OK", json.dumps(data).encode(), rng)
        kind = "extra/smuggled late" if late else "extra/smuggled at once"
        answer = Answer(kind, [(0.0, wire)], expected=expected, issued=issued)
        return (late, wire), Record(number, None, request.path, answer, False)

    def _send(self, connection: socket.socket, answer: Answer, request: Request) -> bool:
        """Send ``answer``'s segments (and an extra answer); False if the client hung up."""
        segments = list(answer.segments)
        late_extra = b""
        if answer.extra is not None:
            late, wire = answer.extra
            if late:
                late_extra = wire
            elif segments:
                delay, data = segments[-1]
                segments[-1] = (delay, data + wire)
        try:
            for delay, data in segments:
                if delay and self._stopping.wait(delay):
                    return False
                connection.sendall(data)
            if late_extra:
                rng = random.Random(f"{self.seed}:{request.number}:late")
                if self._stopping.wait(rng.uniform(0.005, 0.05)):
                    return False
                connection.sendall(late_extra)
        except OSError:
            return False
        return True

    def _hold(self, connection: socket.socket, seconds: float) -> None:
        """Stay silent for ``seconds``, or until the client hangs up."""
        waited = 0.0
        while waited < seconds and not self._stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            waited += 0.05
            if readable:
                try:
                    if not connection.recv(65536):
                        return
                except OSError:
                    return


def _quotes(answer: Answer, secrets: List[str]) -> bool:
    wire = b"".join(data for _, data in answer.segments)
    return any(secret.encode() in wire for secret in secrets)


def _read_request(
    connection: socket.socket, pending: bytes
) -> Optional[Tuple[Tuple[str, str, bytes], bytes]]:
    """The next request on ``connection`` (method, target, body) and the bytes after it;
    None when the client hung up, went idle or sent something that is not a request."""
    data = pending
    try:
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_HEAD:
                return None
            chunk = connection.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(data) < length:
            chunk = connection.recv(65536)
            if not chunk:
                return None
            data += chunk
    except (OSError, ValueError):
        return None
    return (parts[0], parts[1], data[:length]), data[length:]
