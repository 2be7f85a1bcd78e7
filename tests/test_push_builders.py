"""The testing pushes: build_push and its field builders make what WeChat sends, and a
SignedPush delivers itself to a callback view on a real local HTTP server."""

from __future__ import annotations

import http.server
import threading
import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("cryptography")  # the [platform] extra

from tests.test_push_crypto import AES_KEY, APPID, KEYS, TOKEN
from wechat_openapi.errors import PushVerificationError
from wechat_openapi.platform._crypto import decrypt, sorted_sha1
from wechat_openapi.platform._push import open_push
from wechat_openapi.testing._pushes import (
    SignedPush,
    authorized_fields,
    build_push,
    ticket_fields,
    unauthorized_fields,
)

KEYWORDS = {"push_token": TOKEN, "encoding_aes_key": AES_KEY, "appid": APPID}
SENT = 1_700_000_000


def inner_xml(push: SignedPush) -> bytes:
    sealed = push.body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    return decrypt(sealed, KEYS)


def test_builds_the_xml_wechat_sends() -> None:
    push = build_push(ticket_fields(APPID, "ticket@@@t", SENT), **KEYWORDS, timestamp=SENT)
    assert push.body.startswith(f"<xml><AppId><![CDATA[{APPID}]]></AppId><Encrypt>".encode())
    assert (
        inner_xml(push)
        == (
            f"<xml><AppId><![CDATA[{APPID}]]></AppId><CreateTime>{SENT}</CreateTime>"
            "<InfoType><![CDATA[component_verify_ticket]]></InfoType>"
            "<ComponentVerifyTicket><![CDATA[ticket@@@t]]></ComponentVerifyTicket></xml>"
        ).encode()
    )


def test_the_outer_tag_takes_its_value_from_the_fields_or_the_appid() -> None:
    fields = [("ToUserName", "gh_original"), ("CreateTime", "1")]
    message = build_push(fields, **KEYWORDS, outer_appid_tag="ToUserName")
    assert message.body.startswith(b"<xml><ToUserName><![CDATA[gh_original]]></ToUserName>")
    other = build_push([("CreateTime", "1")], **KEYWORDS, outer_appid_tag="ToUserName")
    assert other.body.startswith(f"<xml><ToUserName><![CDATA[{APPID}]]></ToUserName>".encode())


def test_a_value_holding_the_cdata_end_round_trips() -> None:
    sent = build_push([("CreateTime", "1"), ("Content", "a]]>b]]]]>c")], **KEYWORDS)
    push, _ = open_push(sent.body, **sent.params, keys=KEYS, now=time.time())
    assert push.fields["Content"] == "a]]>b]]]]>c"


def test_defaults_are_now_and_random_digits() -> None:
    before = int(time.time())
    first, second = (build_push([("CreateTime", "1")], **KEYWORDS) for _ in range(2))
    assert before <= int(first.timestamp) <= int(time.time())
    assert first.nonce.isdigit()
    assert first.body != second.body  # a random prefix each time


def test_query_and_params_are_wechats() -> None:
    push = build_push([("CreateTime", "1")], **KEYWORDS, timestamp=SENT, nonce="42 &x")
    query = parse_qs(push.query, strict_parsing=True)
    assert query == {
        "signature": [sorted_sha1(TOKEN, str(SENT), "42 &x")],
        "timestamp": [str(SENT)],
        "nonce": ["42 &x"],
        "encrypt_type": ["aes"],
        "msg_signature": [push.msg_signature],
    }
    assert push.params == {
        "msg_signature": push.msg_signature,
        "timestamp": str(SENT),
        "nonce": "42 &x",
    }
    assert repr(push) == (
        f"SignedPush(body=<hidden>, msg_signature=<hidden>, timestamp='{SENT}', "
        "nonce='42 &x', signature=<hidden>)"
    )


def test_field_builders_take_datetimes_and_seconds() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    seconds = str(int(when.timestamp()))
    assert unauthorized_fields(APPID, "wxa", when) == [
        ("AppId", APPID),
        ("CreateTime", seconds),
        ("InfoType", "unauthorized"),
        ("AuthorizerAppid", "wxa"),
    ]
    fields = authorized_fields(APPID, "wxa", "code", when, "pre", 1.9, "updateauthorized")
    assert dict(fields)["AuthorizationCodeExpiredTime"] == seconds
    assert dict(fields)["CreateTime"] == "1"


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda: build_push([("CreateTime",)], **KEYWORDS), TypeError, "pairs"),  # type: ignore[list-item]
        (lambda: build_push(["ab"], **KEYWORDS), TypeError, "pairs"),  # type: ignore[list-item]
        (lambda: build_push([("1bad", "x")], **KEYWORDS), ValueError, "name"),
        (lambda: build_push([("a b", "x")], **KEYWORDS), ValueError, "name"),
        (lambda: build_push([("Name", 1)], **KEYWORDS), TypeError, "Name"),  # type: ignore[list-item]
        (lambda: build_push([], **KEYWORDS, outer_appid_tag="<x>"), ValueError, "outer"),
        (lambda: build_push([], **KEYWORDS, timestamp=True), TypeError, "timestamp"),
        (lambda: build_push([], **KEYWORDS, timestamp="1"), TypeError, "timestamp"),  # type: ignore[arg-type]
        (lambda: build_push([], **KEYWORDS, nonce=""), TypeError, "nonce"),
        (lambda: build_push([], **{**KEYWORDS, "push_token": ""}), ValueError, "push_token"),
        (lambda: authorized_fields("a", "b", "c", 1, "d", 1, "other"), ValueError, "info_type"),
        (lambda: ticket_fields("a", "t", "now"), TypeError, "create_time"),  # type: ignore[arg-type]
        (lambda: ticket_fields("a", "t", False), TypeError, "create_time"),
    ],
    ids=[
        "short pair",
        "not a pair",
        "name starting with a digit",
        "name with a space",
        "value not str",
        "outer tag",
        "bool timestamp",
        "str timestamp",
        "empty nonce",
        "empty token",
        "other info type",
        "create_time str",
        "create_time bool",
    ],
)
def test_builders_refuse_bad_arguments(call: Any, error: type, named: str) -> None:
    with pytest.raises(error, match=named):
        call()


# ---------------------------------------------------------------------------------------------
# Delivery to a real callback view


class _Callback(http.server.BaseHTTPRequestHandler):
    """A platform's callback view: opens the push and answers "success", or 403."""

    received: ClassVar[List[Tuple[str, Dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        self.received.append((self.headers["Content-Type"], query, body))
        try:
            open_push(
                body,
                msg_signature=query.get("msg_signature", ""),
                timestamp=query.get("timestamp", ""),
                nonce=query.get("nonce", ""),
                keys=KEYS,
                now=time.time(),
            )
        except PushVerificationError:
            status, answer = 403, b"refused"
        else:
            status, answer = 200, b"success"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def callback_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    _Callback.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/wechat/callback"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_delivers_a_push_as_wechat_does(callback_url: str) -> None:
    push = build_push(ticket_fields(APPID, "ticket@@@t", int(time.time())), **KEYWORDS)
    assert push.deliver(callback_url) == (200, b"success")
    content_type, query, body = _Callback.received[0]
    assert content_type == "text/xml"
    assert body == push.body
    assert query["encrypt_type"] == "aes"
    assert query["msg_signature"] == push.msg_signature


def test_an_error_status_is_returned_not_raised(callback_url: str) -> None:
    push = build_push(
        [("CreateTime", "1")], push_token="other", encoding_aes_key=AES_KEY, appid=APPID
    )
    assert push.deliver(callback_url + "?tenant=1", timeout=10) == (403, b"refused")
    assert _Callback.received[0][1]["tenant"] == "1"


def test_deliver_takes_only_http_urls() -> None:
    push = build_push([("CreateTime", "1")], **KEYWORDS)
    with pytest.raises(ValueError, match="http"):
        push.deliver("file:///etc/passwd")
