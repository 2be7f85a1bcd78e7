"""A real Redis server for the tests that share tokens through a cache.

``redis_server`` starts ``redis-server`` (Debian's package; .ci/run installs it) on a free
loopback port, and can hang it (SIGSTOP) the way a wedged Redis hangs. The tests that need it
are skipped, saying why, only where that binary is absent and CI did not ask for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import attr
import pytest

REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attr.s(frozen=True, auto_attribs=True)
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]

    @contextlib.contextmanager
    def hung(self) -> Iterator[None]:
        """Redis stops answering (SIGSTOP) inside the block: every call waits for its
        socket timeout, then raises; it answers again (SIGCONT) after the block."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS is None:
        reason = "redis-server is not installed (apt-get install redis-server); CI installs it"
        if os.environ.get("WECHAT_OPENAPI_REQUIRE_REDIS"):
            pytest.fail(reason)  # CI must run these tests, never skip them
        pytest.skip(reason)
    port = free_port()
    argv = [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    with subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL) as process:
        try:
            _wait_for_pong(port)
            yield RedisServer(f"redis://127.0.0.1:{port}/0", process)
        finally:
            os.kill(process.pid, signal.SIGCONT)  # a test that failed while it was hung
            process.terminate()
            process.wait(10)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


def _wait_for_pong(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
