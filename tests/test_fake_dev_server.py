"""The fake as a development server (issue 12, point 9): the serve command, a bounded log,
quiet hang-ups, fault kinds as an Enum, and retries that do not wait."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import time
from typing import List

import pytest

import wechat_openapi as wo
from tests.conftest import MOCK_BASE
from wechat_openapi.testing import FakeWeChat, Fault, FaultKind, no_backoff


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a job started with `&` inherits it


@pytest.mark.parametrize(
    ("signum", "inherited"),
    [
        (signal.SIGINT, "default"),
        (signal.SIGINT, "SIGINT ignored"),
        (signal.SIGTERM, "SIGINT ignored"),  # a script's `serve &`, then its `kill %1`
    ],
)
def test_serve_prints_its_url_and_seed_serves_the_demo_and_stops_on_its_signals(
    signum: int, inherited: str
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "wechat_openapi.testing", "serve", "--seed", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if inherited == "SIGINT ignored" else None,
    ) as server:
        _serve_then_stop(server, signum)


def _serve_then_stop(server: subprocess.Popen, signum: int) -> None:  # type: ignore[type-arg]
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("fake WeChat at http://127.0.0.1:")
        url = first.split()[3]
        seed = [server.stdout.readline() for _ in range(3)]
        assert "sandbox-demo-token: wxdemo0000000001" in "".join(seed)
        client = wo.Client(access_token="sandbox-demo-token", base_url=url)
        assert client.get_open_account().open_appid == "wxopen000000demo"
        server.send_signal(signum)
        out, err = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0
    assert out.strip().endswith("stopped")
    assert err == ""


def test_serve_with_an_empty_seed_and_a_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [sys.executable, "-m", "wechat_openapi.testing", "serve", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"cannot listen on 127.0.0.1:{port}")


def test_the_request_log_is_bounded_and_can_be_cleared() -> None:
    with FakeWeChat(max_logged=5) as fake:
        client = fake.client(fake.add_account(open_appid="wxopen"))
        for _ in range(8):
            client.get_open_account()
        assert len(fake.requests) == 5
        assert [r.connection for r in fake.requests] == [1] * 5
        fake.clear()
        assert fake.requests == []
        client.get_open_account()
        assert len(fake.requests) == 1


def test_a_client_that_hangs_up_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeWeChat() as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(b"POST /cgi-bin/open/get HTTP/1.1\r\nContent-Le")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.3)  # let the handler threads meet the reset
    assert "Traceback" not in capfd.readouterr().err


def test_fault_kinds_are_an_enum() -> None:
    assert Fault.delay(1).kind is FaultKind.DELAY
    assert Fault.bad_gateway().kind is FaultKind.RESPOND
    assert {kind.value for kind in FaultKind} >= {"api_error", "reset", "trickle", "raw"}


def test_the_fakes_clients_and_no_backoff_clients_retry_without_waiting() -> None:
    with FakeWeChat() as fake:
        account = fake.add_account(open_appid="wxopen")
        mine = no_backoff(wo.Client(access_token=account.token, base_url=fake.url))
        for client in (fake.client(account), mine, mine.with_options(deadline=5)):
            slept: List[float] = []
            client._transport.sleep = slept.append  # what the retries ask to wait
            fake.inject(Fault.system_busy(), times=2)
            assert client.get_open_account().open_appid == "wxopen"
            assert slept == [0.0, 0.0]  # two retries, neither waiting


def test_no_backoff_returns_the_client_it_changed() -> None:
    client = wo.Client(access_token="t", base_url=MOCK_BASE)
    assert no_backoff(client) is client
    assert client._transport.backoff(3) == 0.0
