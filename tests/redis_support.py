"""A real Redis server for the tests that share tokens through a cache.

``redis_server`` starts ``redis-server`` (Debian's package; .ci/run installs it) on a free
loopback port, and can hang it (SIGSTOP) the way a wedged Redis hangs. The tests that need it
are skipped, saying why, only where that binary is absent and CI did not ask for it.

``worker_processes`` runs the tests' worker scripts, and ``wait_until_ready`` waits for
their ready files (``worker_cache.ready_then_wait`` writes them) before a start signal.
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
from typing import Iterator, List, Sequence

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
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a Redis deaf to SIGTERM
                process.kill()
                process.wait()


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


@contextlib.contextmanager
def worker_processes(commands: Sequence[List[str]]) -> Iterator[List[subprocess.Popen[bytes]]]:
    """One process per command, its stdout and stderr piped. When the block ends, however it
    ends, each still running is killed, then waited for, and its pipes are closed: none is
    left to the garbage collector (a ResourceWarning, an error under this suite's filters)."""
    with contextlib.ExitStack() as stack:
        started: List[subprocess.Popen[bytes]] = []
        for command in commands:
            process = stack.enter_context(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            )
            stack.callback(_kill_if_running, process)  # runs before Popen's exit waits
            started.append(process)
        yield started


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()


def wait_until_ready(signals: Path, name: str, workers: List[subprocess.Popen[bytes]]) -> None:
    """Wait until every worker has said it is ready for the signal ``signals / name`` (a
    file ``NAME.<pid>.ready`` each, from ``worker_cache.ready_then_wait``)."""
    give_up = time.monotonic() + 120
    while len(list(signals.glob(f"{name}.*.ready"))) < len(workers):
        for worker in workers:
            if worker.poll() is not None:
                _, err = worker.communicate()
                raise AssertionError(f"a worker ended early: {err.decode(errors='replace')}")
        assert time.monotonic() < give_up, "the workers never became ready"
        time.sleep(0.01)
