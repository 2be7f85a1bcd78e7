"""Transport behaviour over real loopback sockets: bounds, time limits, connections, fork."""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
import zlib
from typing import Any

import pytest
import requests

import wechat_openapi as wo
from tests.conftest import TOKEN, MakeClient
from tests.scripted_server import Reply, ScriptedServer, Seen, json_reply

OK = json_reply({"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"})


def echo_appid(seen: Seen) -> Reply:
    """Answer each open/get with the appid it asked about, to match answers to requests."""
    return json_reply({"errcode": 0, "open_appid": "bound-" + seen.json()["appid"]})


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_sequential_calls_reuse_one_connection(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.default = OK
    client = make_client(base_url=server.url)
    for _ in range(20):
        assert client.get_open_account().open_appid == "wxopen"
    assert server.connections == 1


def test_one_client_shared_by_16_threads_matches_each_answer_to_its_call(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.responder = echo_appid
    client = make_client(base_url=server.url)
    mismatches: list[str] = []
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for call in range(25):
                appid = f"w{worker}c{call}"
                if client.get_open_account(appid).open_appid != "bound-" + appid:
                    mismatches.append(appid)
        except BaseException as exc:  # surfaced by the assertions below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert failures == []
    assert mismatches == []
    assert len(server.seen) == 16 * 25
    assert server.connections <= 16


def test_a_declared_oversized_body_is_refused_without_reading_it(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=b"x" * 5000))
    with pytest.raises(
        wo.InvalidResponseError, match="5000 bytes, over the 1000-byte cap"
    ) as caught:
        make_client(base_url=server.url, max_response_bytes=1000).get_open_account()
    assert caught.value.status_code == 200


def test_an_oversized_body_of_unknown_length_is_cut_at_the_cap(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=b"[" + b"1," * 300_000 + b"1]", chunked=True))
    with pytest.raises(wo.InvalidResponseError, match="over 100000 bytes"):
        make_client(base_url=server.url, max_response_bytes=100_000).get_open_account()


def test_a_chunked_answer_within_the_cap_is_read(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=OK.body, chunked=True))
    assert make_client(base_url=server.url).get_open_account().open_appid == "wxopen"


def test_a_trickled_body_is_cut_at_the_total_deadline(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=b" " * 200 + OK.body, trickle=0.05))
    client = make_client(base_url=server.url, timeout=(1, 5), deadline=1.0, max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match="deadline of 1s passed while reading"):
        client.get_open_account()
    assert 0.9 <= time.monotonic() - started <= 1.5


def test_a_body_that_stops_mid_way_is_cut_at_the_deadline_not_the_read_timeout(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=OK.body, trickle=8.0))
    client = make_client(base_url=server.url, timeout=(1, 10), deadline=0.8, max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError):
        client.get_open_account()
    assert time.monotonic() - started <= 1.5


def test_a_server_that_never_answers_times_out_within_the_read_timeout(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(stall=10.0))
    client = make_client(base_url=server.url, timeout=(1, 0.5), max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError):
        client.get_open_account()
    assert time.monotonic() - started <= 0.5 + 0.5


def test_a_timed_out_attempt_is_retried(server: ScriptedServer, make_client: MakeClient) -> None:
    server.script(Reply(stall=10.0), OK)
    client = make_client(base_url=server.url, timeout=(1, 0.3), max_retries=1)
    assert client.get_open_account().open_appid == "wxopen"
    assert len(server.seen) == 2


def test_a_connection_closed_mid_body_is_a_retried_transport_error(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(body=OK.body, cut_after=5), Reply(body=OK.body, cut_after=5), OK)
    assert make_client(base_url=server.url).get_open_account().open_appid == "wxopen"
    assert len(server.seen) == 3

    server.script(*[Reply(body=OK.body, cut_after=5)] * 3)
    with pytest.raises(wo.TransportError, match="closed after 5 of"):
        make_client(base_url=server.url).get_open_account()


def test_a_broken_chunked_body_is_a_transport_error(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.script(Reply(raw=b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"err'))
    with pytest.raises(wo.TransportError, match="broke while reading"):
        make_client(base_url=server.url, max_retries=0).get_open_account()


def test_a_refused_connection_is_a_transport_error(make_client: MakeClient) -> None:
    with pytest.raises(wo.TransportError) as caught:
        make_client(base_url=refused_url()).get_open_account()
    assert caught.value.retryable
    assert type(caught.value) is wo.TransportError


BAD_BODIES = [
    pytest.param(Reply(body=b""), "an empty body", id="empty 200"),
    pytest.param(
        Reply(body=b"", headers={"Content-Type": "text/html"}), "an empty body", id="empty html"
    ),
    pytest.param(Reply(body=b"<html>gateway</html>"), "not JSON", id="html 200"),
    pytest.param(Reply(body=b'{"errcode": 0, "open_'), "not JSON", id="truncated json"),
    pytest.param(Reply(body=b"[1, 2]"), "JSON list", id="json list"),
    pytest.param(Reply(body=b'"ok"'), "JSON str", id="json string"),
    pytest.param(Reply(body=b"\xff\xfe{"), "not JSON", id="bad utf-8"),
    pytest.param(Reply(body=b"[" * 100_000), "not JSON", id="deep nesting"),
    pytest.param(Reply(body=b'{"errcode": "busy"}'), "errcode is not an integer", id="errcode"),
]


@pytest.mark.parametrize(("reply", "problem"), BAD_BODIES)
def test_bodies_that_are_not_a_json_object_are_invalid_responses(
    server: ScriptedServer, make_client: MakeClient, reply: Reply, problem: str
) -> None:
    server.script(reply, OK)
    with pytest.raises(wo.InvalidResponseError, match=problem) as caught:
        make_client(base_url=server.url).get_open_account()
    assert caught.value.status_code == 200
    assert len(server.seen) == 1


def test_a_502_gateway_page_is_retried_then_reported_with_its_status(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    page = Reply(
        status=502, body=b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"}
    )
    server.script(page, page, page)
    with pytest.raises(wo.InvalidResponseError, match="HTTP 502") as caught:
        make_client(base_url=server.url).get_open_account()
    assert caught.value.status_code == 502
    assert len(server.seen) == 3


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_compressed_answers_are_decoded(
    server: ScriptedServer, make_client: MakeClient, encoding: str, compress: Any
) -> None:
    server.script(Reply(body=compress(OK.body), headers={"Content-Encoding": encoding}))
    assert make_client(base_url=server.url).get_open_account().open_appid == "wxopen"
    assert server.seen[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(body=b"xx", headers={"Content-Encoding": "br"}), id="unknown coding"),
        pytest.param(Reply(body=b"xx", headers={"Content-Encoding": "gzip"}), id="corrupt gzip"),
        pytest.param(
            Reply(body=gzip.compress(b" " * 50_000), headers={"Content-Encoding": "gzip"}),
            id="gzip bomb over the cap",
        ),
    ],
)
def test_undecodable_or_oversized_compressed_answers_are_invalid(
    server: ScriptedServer, make_client: MakeClient, reply: Reply
) -> None:
    server.script(reply)
    with pytest.raises(wo.InvalidResponseError, match="cannot decode"):
        make_client(base_url=server.url, max_response_bytes=10_000).get_open_account()


def test_proxy_settings_are_read_from_the_environment_once_when_the_client_is_built(
    server: ScriptedServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = OK
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_client(base_url="http://wechat.example")
    monkeypatch.setenv("HTTP_PROXY", refused_url())  # too late: the client has its settings

    assert client.get_open_account().open_appid == "wxopen"
    assert server.seen[0].target.startswith("http://wechat.example/cgi-bin/open/get?")


def test_no_proxy_is_honoured(
    server: ScriptedServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = OK
    monkeypatch.setenv("HTTP_PROXY", refused_url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert make_client(base_url=server.url).get_open_account().open_appid == "wxopen"
    assert server.seen[0].target.startswith("/cgi-bin/open/get?")


def test_requests_ca_bundle_is_honoured(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = make_client(base_url="https://api.example")
    assert client._transport._send_options["verify"] == str(bundle)


def test_an_injected_session_keeps_its_own_proxies(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.default = OK
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": server.url}
    client = make_client(base_url="http://wechat.example", session=session)
    assert client.get_open_account().open_appid == "wxopen"
    assert server.seen[0].target.startswith("http://wechat.example/")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.default = OK
    client = make_client(base_url=server.url)
    client.get_open_account()
    parent_connection = server.seen[-1].connection

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and never return into pytest
        status = 1
        try:
            status = 0 if client.get_open_account().open_appid == "wxopen" else 1
        finally:
            os.write(write_end, bytes([status]))
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        child_status = report.read(1)
    os.waitpid(pid, 0)

    assert child_status == b"\x00"
    child_connection = server.seen[-1].connection
    assert child_connection != parent_connection
    client.get_open_account()
    assert server.seen[-1].connection == parent_connection
    assert server.connections == 2


def test_the_token_travels_only_in_the_query(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.default = OK
    make_client(base_url=server.url).get_open_account("wx1")
    seen = server.seen[0]
    assert f"access_token={TOKEN}" in seen.target
    assert TOKEN not in json.dumps(seen.headers)
    assert TOKEN.encode() not in seen.body


def test_forget_connections_makes_the_next_call_open_a_new_connection(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    server.default = OK
    client = make_client(base_url=server.url)
    client.get_open_account()
    client._transport.forget_connections()
    client.get_open_account()
    assert server.connections == 2
    assert server.seen[0].connection != server.seen[1].connection
