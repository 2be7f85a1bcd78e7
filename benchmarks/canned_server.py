"""A canned keep-alive HTTP server for the benchmark, run as a separate process.

It answers every POST with the same open/get answer, except the component token endpoints,
which get a token, and under the ``/huge`` prefix, where it streams a 256 MiB chunked body
with no Content-Length. ``GET /stats`` reports how many
connections carried a POST. It prints its port on stdout, then serves until killed.
Standard library only, so its CPU never lands on the client being measured. The benchmarks
start it with :func:`serving`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import subprocess
import sys
import threading
from typing import Iterator

ANSWER = b'{"open_appid":"wxopen_benchmark","errcode":0,"errmsg":"ok"}'
# The component endpoints' answers, so that a platform's token chain can be measured too.
TOKEN_ANSWERS = {
    b"api_component_token": b'{"component_access_token":"BENCHMARK_COMPONENT","expires_in":7200}',
    b"api_authorizer_token": (
        b'{"authorizer_access_token":"BENCHMARK_AUTHORIZER","expires_in":7200,'
        b'"authorizer_refresh_token":"BENCHMARK_REFRESH"}'
    ),
}


def head(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; encoding=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )


HEAD = head(ANSWER)
HUGE_SIZE = 256 * 1024 * 1024
PIECE = b"x" * (1024 * 1024)

post_connections = 0
lock = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True

    def handle(self) -> None:
        global post_connections
        counted = False
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, target, _ = line.split(b" ", 2)
            length = 0
            while True:
                header = self.rfile.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.rfile.read(length)
            if method == b"GET":
                with lock:
                    stats = json.dumps({"post_connections": post_connections}).encode()
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(stats))
                self.wfile.write(stats)
                continue
            if not counted:
                counted = True
                with lock:
                    post_connections += 1
            if target.startswith(b"/huge/"):
                self.stream_huge()
                return
            token_answer = next((a for k, a in TOKEN_ANSWERS.items() if k in target), None)
            if token_answer is not None:
                self.wfile.write(head(token_answer) + token_answer)
                continue
            self.wfile.write(HEAD + ANSWER)

    def stream_huge(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(HUGE_SIZE // len(PIECE)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client refused the body and hung up, as it should
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    address_family = socket.AF_INET


@contextlib.contextmanager
def serving() -> Iterator[int]:
    """This server in a process of its own, and its port, for the block; then it is killed,
    waited for and its pipe closed, however the block ends."""
    with subprocess.Popen(
        [sys.executable, __file__], stdout=subprocess.PIPE, text=True
    ) as server:  # its exit waits for the server and closes the pipe
        try:
            assert server.stdout is not None
            yield int(server.stdout.readline())
        finally:
            server.kill()


def main() -> None:
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
