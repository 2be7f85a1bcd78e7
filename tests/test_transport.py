"""Transport behaviour over real loopback sockets: bounds, time limits, encodings, proxies.

(Connection reuse, threads, fork and the retry counts are in test_integration.py.)
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
import zlib
from typing import Any, List

import pytest
import requests

import wechat_openapi as wo
from tests.conftest import TOKEN, MakeClient
from wechat_openapi.testing import FakeWeChat, Fault

# Every test here runs on both ways of sending (see conftest.either_send_path).
pytestmark = pytest.mark.usefixtures("either_send_path")

OK_BODY = b'{"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"}'


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_declared_oversized_body_is_refused_without_reading_it(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.respond(200, b"x" * 5000))
    with pytest.raises(
        wo.InvalidResponseError, match="declares 5000 bytes, over the 1000-byte"
    ) as caught:
        fake_client(max_response_bytes=1000).get_open_account()
    assert caught.value.status_code == 200


def test_an_oversized_body_of_unknown_length_is_cut_at_the_cap(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.huge(600_000))
    with pytest.raises(wo.InvalidResponseError) as caught:
        fake_client(max_response_bytes=100_000).get_open_account()
    assert re.search(r"the answer ran past \d+ bytes, over the 100000-byte cap", str(caught.value))
    assert str(caught.value).count("100000") == 1  # said once, not "over 100000, over 100000"


def test_a_chunked_answer_within_the_cap_is_read(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.respond(200, OK_BODY, chunked=True))
    assert fake_client().get_open_account().open_appid == "wxopen"


def test_a_huge_answer_within_a_raised_cap_is_read_whole(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.huge(300_000, declare_length=True))
    with pytest.raises(wo.InvalidResponseError, match="'open_appid' is missing"):
        fake_client(max_response_bytes=400_000).get_open_account()


def test_a_body_that_stops_mid_way_is_cut_at_the_deadline_not_the_read_timeout(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    """The first byte of the body comes 8 s after the head, within the 10 s read timeout: a
    reader bound by the read timeout alone would wait for it. The deadline cuts the read (the
    error says so) well before it; half the wait for the byte leaves a busy machine room."""
    interval = 8.0
    wechat_fake.inject(Fault.trickle(interval))  # cut short when the fake stops
    client = fake_client(timeout=(1, 10), deadline=0.8, max_retries=0)

    started = time.monotonic()
    with pytest.raises(wo.RequestTimeoutError, match=r"deadline of 0\.8s passed while reading"):
        client.get_open_account()
    assert 0.8 <= time.monotonic() - started < interval / 2


def test_a_connection_closed_mid_body_is_a_retried_transport_error(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.cut(5), times=2)
    assert fake_client().get_open_account().open_appid == "wxopen"
    assert len(wechat_fake.requests) == 3

    wechat_fake.inject(Fault.cut(5), times=3)
    with pytest.raises(wo.TransportError, match="closed after 5 of"):
        fake_client().get_open_account()


def test_a_reset_connection_is_a_retried_transport_error(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.reset())
    assert fake_client().get_open_account().open_appid == "wxopen"
    assert len(wechat_fake.requests) == 2

    wechat_fake.inject(Fault.reset())
    with pytest.raises(wo.TransportError) as caught:
        fake_client(max_retries=0).get_open_account()
    assert caught.value.retryable


def test_a_broken_chunked_body_is_a_transport_error(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.raw(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"e'))
    with pytest.raises(wo.TransportError, match="broke while reading"):
        fake_client(max_retries=0).get_open_account()


def test_a_refused_connection_is_a_transport_error(make_client: MakeClient) -> None:
    with pytest.raises(wo.TransportError) as caught:
        make_client(base_url=refused_url()).get_open_account()
    assert caught.value.retryable
    assert type(caught.value) is wo.TransportError


BAD_BODIES = [
    pytest.param(Fault.empty(), "an empty body", id="empty text/html 200"),
    pytest.param(Fault.html(), "not JSON", id="html 200"),
    pytest.param(Fault.truncated_json(), "not JSON", id="truncated json"),
    pytest.param(Fault.respond(200, b"[1, 2]"), "JSON list", id="json list"),
    pytest.param(Fault.respond(200, b'"ok"'), "JSON str", id="json string"),
    pytest.param(Fault.respond(200, b"\xff\xfe{"), "not JSON", id="bad utf-8"),
    pytest.param(Fault.respond(200, b"[" * 100_000), "nested deeper than 100", id="deep nesting"),
    pytest.param(Fault.respond(200, b'{"errcode": "busy"}'), "errcode is not an int", id="code"),
]


@pytest.mark.parametrize(("fault", "problem"), BAD_BODIES)
def test_bodies_that_are_not_a_json_object_are_invalid_responses(
    wechat_fake: FakeWeChat, fake_client: MakeClient, fault: Fault, problem: str
) -> None:
    wechat_fake.inject(fault)
    with pytest.raises(wo.InvalidResponseError, match=problem) as caught:
        fake_client().get_open_account()
    assert caught.value.status_code == 200
    assert len(wechat_fake.requests) == 1


def test_a_502_gateway_page_is_retried_then_reported_with_its_status(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    wechat_fake.inject(Fault.bad_gateway(), times=3)
    with pytest.raises(wo.InvalidResponseError, match="HTTP 502") as caught:
        fake_client().get_open_account()
    assert caught.value.status_code == 502
    assert len(wechat_fake.requests) == 3


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_compressed_answers_are_decoded(
    wechat_fake: FakeWeChat, fake_client: MakeClient, encoding: str, compress: Any
) -> None:
    headers = (("Content-Encoding", encoding),)
    wechat_fake.inject(Fault.respond(200, compress(OK_BODY), headers=headers))
    assert fake_client().get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[0].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.respond(200, b"xx", headers=(("Content-Encoding", "br"),)), id="br"),
        pytest.param(
            Fault.respond(200, b"xx", headers=(("Content-Encoding", "gzip"),)), id="corrupt gzip"
        ),
        pytest.param(
            Fault.respond(
                200, gzip.compress(b" " * 50_000), headers=(("Content-Encoding", "gzip"),)
            ),
            id="gzip bomb over the cap",
        ),
    ],
)
def test_undecodable_or_oversized_compressed_answers_are_invalid(
    wechat_fake: FakeWeChat, fake_client: MakeClient, fault: Fault
) -> None:
    wechat_fake.inject(fault)
    with pytest.raises(wo.InvalidResponseError, match="cannot decode"):
        fake_client(max_response_bytes=10_000).get_open_account()


def test_proxy_settings_are_read_from_the_environment_once_when_the_client_is_built(
    wechat_fake: FakeWeChat, fake_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", wechat_fake.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = fake_client(base_url="http://wechat.example")
    monkeypatch.setenv("HTTP_PROXY", refused_url())  # too late: the client has its settings

    assert client.get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[0].target.startswith("http://wechat.example/cgi-bin/open/get?")


def test_no_proxy_is_honoured(
    wechat_fake: FakeWeChat, fake_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", refused_url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert fake_client().get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[0].target.startswith("/cgi-bin/open/get?")


def test_requests_ca_bundle_is_honoured(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    client = make_client(base_url="https://api.example")
    assert client._transport._send_options["verify"] == str(bundle)


def test_an_injected_session_keeps_its_own_proxies(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"http": wechat_fake.url}
    client = fake_client(base_url="http://wechat.example", session=session)
    assert client.get_open_account().open_appid == "wxopen"
    assert wechat_fake.requests[0].target.startswith("http://wechat.example/")


def test_the_token_travels_only_in_the_query(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    fake_client().get_open_account("wxshop")
    seen = wechat_fake.requests[0]
    assert seen.token == TOKEN
    assert f"access_token={TOKEN}" in seen.target
    assert TOKEN not in json.dumps(seen.headers)
    assert TOKEN.encode() not in seen.body


def test_after_fork_in_child_makes_the_next_call_open_a_new_connection(
    wechat_fake: FakeWeChat, fake_client: MakeClient
) -> None:
    client = fake_client()
    client.get_open_account()
    client._transport.after_fork_in_child()
    client.get_open_account()
    assert wechat_fake.connections == 2
    assert wechat_fake.requests[0].connection != wechat_fake.requests[1].connection


def test_https_proxy_is_honoured_with_a_connect_to_the_proxy(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(1)
    proxy.settimeout(5)
    first_lines: List[bytes] = []

    def accept_one() -> None:
        connection, _ = proxy.accept()
        with connection:
            first_lines.append(connection.makefile("rb").readline())

    listener = threading.Thread(target=accept_one)
    listener.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_client(base_url="https://wechat.example", max_retries=0)
    monkeypatch.delenv("HTTPS_PROXY")  # too late to matter: read when the client was built

    with pytest.raises(wo.TransportError):
        client.get_open_account()
    listener.join(5)
    proxy.close()
    assert len(first_lines) == 1
    assert first_lines[0].startswith(b"CONNECT wechat.example:443 HTTP/")
