"""Processes share one stable token through Django's cache framework on a real Redis server.

The test starts ``redis-server`` (Debian's package; .ci/run installs it) on a free loopback
port. It is skipped, saying why, only where that binary is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from wechat_openapi.testing import FakeWeChat

REDIS = shutil.which("redis-server")
WORKER = Path(__file__).with_name("shared_token_worker.py")
APPID, SECRET = "wxsharedtoken0001", "shared-token-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if REDIS is None:
        reason = "redis-server is not installed (apt-get install redis-server); CI installs it"
        if os.environ.get("WECHAT_OPENAPI_REQUIRE_REDIS"):
            pytest.fail(reason)  # CI must run this test, never skip it
        pytest.skip(reason)
    port = free_port()
    server = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_4_processes_x_50_calls_make_exactly_one_stable_token_call(
    redis_url: str, wechat_fake: FakeWeChat
) -> None:
    wechat_fake.add_account(APPID, secret=SECRET, open_appid="wxopen")
    start_at = str(time.time() + 3)  # time for each process to import Django and connect
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                redis_url,
                wechat_fake.url,
                APPID,
                SECRET,
                "50",
                start_at,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]

    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
        assert json.loads(out)["answers"] == ["wxopen"] * 50
    token_calls = [r for r in wechat_fake.requests if r.path == "/cgi-bin/stable_token"]
    api_calls = [r for r in wechat_fake.requests if r.path == "/cgi-bin/open/get"]
    assert len(token_calls) == 1
    assert len(api_calls) == 4 * 50
    assert len({r.token for r in api_calls}) == 1
