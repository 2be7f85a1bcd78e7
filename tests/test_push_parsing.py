"""open_push: every kind of push becomes a Push, and every forgery, hostile XML and bad
argument is refused with PushVerificationError naming the check, quoting no secret."""

from __future__ import annotations

import base64
import pickle
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest

pytest.importorskip("cryptography")  # the [platform] extra

from tests.test_push_crypto import (
    AES_KEY,
    APPID,
    FIXED,
    KEYS,
    OTHER_KEY,
    PEER_BODY,
    PEER_KEYS,
    PEER_QUERY,
    SAMPLE_KEYS,
    SAMPLE_MESSAGE_ENCRYPTED,
    TICKET,
    TICKET_BODY,
    TICKET_KEYS,
    TICKET_QUERY,
    TOKEN,
    ending,
    framed,
    raw_encrypt,
)
from tests.test_redaction import texts_of
from wechat_openapi.errors import PushVerificationError
from wechat_openapi.platform import _push
from wechat_openapi.platform._crypto import PushKeys, encrypt, push_keys, signature
from wechat_openapi.platform._push import Push, PushFields, open_push
from wechat_openapi.testing._pushes import (
    authorized_fields,
    build_push,
    ticket_fields,
    unauthorized_fields,
)

NOW = 1_700_000_000
SENT = NOW - 2  # the push's timestamp: two seconds ago
AUTHORIZER = "wxauthorizer42"
CODE = "queryauthcode@@@AuthCodeSentinel5c2e"
PRE_AUTH = "preauthcode@@@PreAuthSentinel91b0"
TICKET_VALUE = "ticket@@@TicketSentinel0d7a"
SECRETS = (TOKEN, AES_KEY, OTHER_KEY, CODE, PRE_AUTH, TICKET_VALUE, "FastRegCodeSentinel")
KEYWORDS = {"push_token": TOKEN, "encoding_aes_key": AES_KEY, "appid": APPID}


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def opened(
    body: Union[bytes, str], params: Dict[str, str], **options: Any
) -> Tuple[Push, Optional[str]]:
    options.setdefault("keys", KEYS)
    options.setdefault("now", NOW)
    return open_push(body, **params, **options)


def signed(
    inner: Union[bytes, str, None] = None,
    *,
    encrypted: Optional[str] = None,
    outer: Optional[str] = None,
    token: str = TOKEN,
    timestamp: int = SENT,
) -> Tuple[bytes, Dict[str, str]]:
    """A body and its query: ``inner`` encrypted (or ``encrypted`` as it is) and wrapped in
    ``outer`` (a format string with {encrypt}), signed with ``token``."""
    if encrypted is None:
        raw = inner.encode() if isinstance(inner, str) else inner
        encrypted = encrypt(raw or b"<xml/>", KEYS)
    body = (
        outer if outer is not None else "<xml><AppId>wx</AppId><Encrypt>{encrypt}</Encrypt></xml>"
    )
    params = {
        "msg_signature": signature(token, str(timestamp), "12345", encrypted),
        "timestamp": str(timestamp),
        "nonce": "12345",
    }
    return body.format(encrypt=encrypted).encode("utf-8"), params


def refusal(body: Union[bytes, str], params: Dict[str, str], **options: Any) -> str:
    """The refusal's message, once every text of it is checked for secrets."""
    with pytest.raises(PushVerificationError) as caught:
        opened(body, params, **options)
    error = caught.value
    assert error.__context__ is None
    assert error.__cause__ is None
    for text in texts_of(error):
        for secret in SECRETS:
            assert secret not in text
        if isinstance(body, bytes) and b"<Encrypt>" in body:
            sealed = body.split(b"<Encrypt>")[1].split(b"</Encrypt>")[0]
            assert len(sealed) < 16 or sealed.decode("utf-8", "replace") not in text
    return str(error)


# ---------------------------------------------------------------------------------------------
# Every kind of push


FASTREGISTER = [
    ("AppId", APPID),
    ("CreateTime", str(SENT)),
    ("InfoType", "notify_third_fasteregister"),
    ("appid", "wxnewapp"),
    ("status", "0"),
    ("auth_code", "FastRegCodeSentinel"),
    ("msg", "OK"),
]
MESSAGE = [
    ("ToUserName", "gh_7f083739789a"),
    ("FromUserName", "oUser"),
    ("CreateTime", str(SENT)),
    ("MsgType", "text"),
    ("Content", "hello <!DOCTYPE html> ]]> world"),
    ("MsgId", "1234567890123456"),
]


@pytest.mark.parametrize(
    ("fields", "outer", "expected", "ticket", "others"),
    [
        (
            ticket_fields(APPID, TICKET_VALUE, SENT),
            "AppId",
            {"info_type": "component_verify_ticket"},
            TICKET_VALUE,
            {"AppId": APPID},
        ),
        (
            authorized_fields(APPID, AUTHORIZER, CODE, SENT + 3600, PRE_AUTH, SENT),
            "AppId",
            {
                "info_type": "authorized",
                "authorizer_appid": AUTHORIZER,
                "authorization_code": CODE,
                "authorization_code_expires_at": utc(SENT + 3600),
                "pre_auth_code": PRE_AUTH,
            },
            None,
            {"AppId": APPID},
        ),
        (
            authorized_fields(
                APPID, AUTHORIZER, CODE, SENT + 3600, PRE_AUTH, SENT, "updateauthorized"
            ),
            "AppId",
            {
                "info_type": "updateauthorized",
                "authorizer_appid": AUTHORIZER,
                "authorization_code": CODE,
                "authorization_code_expires_at": utc(SENT + 3600),
                "pre_auth_code": PRE_AUTH,
            },
            None,
            {"AppId": APPID},
        ),
        (
            unauthorized_fields(APPID, AUTHORIZER, SENT),
            "AppId",
            {"info_type": "unauthorized", "authorizer_appid": AUTHORIZER},
            None,
            {"AppId": APPID},
        ),
        (
            FASTREGISTER,
            "AppId",
            {"info_type": "notify_third_fasteregister"},
            None,
            {
                "AppId": APPID,
                "appid": "wxnewapp",
                "status": "0",
                "auth_code": "FastRegCodeSentinel",
                "msg": "OK",
            },
        ),
        (
            MESSAGE,
            "ToUserName",
            {"info_type": None},
            None,
            {name: value for name, value in MESSAGE if name != "CreateTime"},
        ),
    ],
    ids=["ticket", "authorized", "updateauthorized", "unauthorized", "unmodelled", "message"],
)
def test_opens_every_kind_of_push(
    fields: List[Tuple[str, str]],
    outer: str,
    expected: Dict[str, Any],
    ticket: Optional[str],
    others: Dict[str, str],
) -> None:
    push = build_push(fields, **KEYWORDS, timestamp=SENT, outer_appid_tag=outer)
    got, got_ticket = opened(push.body, push.params)
    defaults = {
        "authorizer_appid": None,
        "authorization_code": None,
        "authorization_code_expires_at": None,
        "pre_auth_code": None,
    }
    assert got == Push(
        create_time=utc(SENT),
        fields=PushFields(tuple(others.items())),
        **{
            **defaults,
            **expected,
        },
    )
    assert got_ticket == ticket
    assert dict(got.fields) == others
    for secret in SECRETS:
        assert secret not in repr(got)
    assert "ComponentVerifyTicket" not in repr(got)
    assert "ComponentVerifyTicket" not in got.fields
    assert "PreAuthCode" not in got.fields
    copy = pickle.loads(pickle.dumps(got))
    assert copy == got
    assert hash(copy) == hash(got)
    assert copy.create_time.tzinfo is timezone.utc


def test_opens_a_real_ticket_push() -> None:
    """The push WeChat sent in WeChat's sample test (see tests/test_push_crypto.py)."""
    push, ticket = open_push(
        TICKET_BODY, **TICKET_QUERY, keys=push_keys(*TICKET_KEYS), now=0, max_age=None
    )
    assert ticket == TICKET
    assert push.info_type == "component_verify_ticket"
    assert push.create_time == utc(1456907505)
    assert dict(push.fields) == {"AppId": "wx7613bea5e4d18127"}
    assert TICKET not in repr(push)


def test_opens_a_peer_librarys_message_push_as_text() -> None:
    """wechatpy's signed message push (see tests/test_push_crypto.py), as a str body."""
    push, ticket = open_push(
        PEER_BODY.decode(), **PEER_QUERY, keys=push_keys(*PEER_KEYS), now=0, max_age=None
    )
    assert ticket is None
    assert push.info_type is None
    assert push.create_time == utc(1411525903)
    assert push.fields["FromUserName"] == "messense"
    assert push.fields["Content"] == "test"
    assert push.fields["MsgType"] == "text"


def test_opens_wechats_sample_message_with_its_nested_elements() -> None:
    """WeChat's sample message (see tests/test_push_crypto.py), in the ToUserName shape."""
    token = SAMPLE_KEYS[0]
    encrypted = SAMPLE_MESSAGE_ENCRYPTED
    outer = f"<xml><ToUserName>toUser</ToUserName><Encrypt>{encrypted}</Encrypt></xml>"
    params = {
        "msg_signature": signature(token, "1409304348", "xxxxxx", encrypted),
        "timestamp": "1409304348",
        "nonce": "xxxxxx",
    }
    push, _ = open_push(outer, **params, keys=push_keys(*SAMPLE_KEYS), now=1409304348)
    assert push.fields["ToUserName"] == "oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw"
    video = push.fields["Video"]
    assert isinstance(video, PushFields)
    assert video["Title"] == "testCallBackReplyVideo"
    assert pickle.loads(pickle.dumps(push)) == push


def test_fields_keep_repeated_elements_in_order() -> None:
    inner = (
        "<xml><CreateTime>1</CreateTime><Event>pic</Event><PicList>"
        "<item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
        "</PicList><Empty/></xml>"
    )
    body, params = signed(inner)
    push, _ = opened(body, params)
    pictures = push.fields["PicList"]
    assert isinstance(pictures, PushFields)
    assert len(pictures) == 1
    assert [item["PicMd5Sum"] for item in pictures.get_all("item")] == ["a", "b"]
    assert pictures.pairs[1][0] == "item"
    assert pictures == {"item": PushFields((("PicMd5Sum", "a"),))}
    assert pictures != PushFields((("item", PushFields((("PicMd5Sum", "a"),))),))
    assert push.fields["Empty"] == ""
    assert list(push.fields) == ["Event", "PicList", "Empty"]
    assert pickle.loads(pickle.dumps(pictures)) == pictures


def test_fields_mask_values_named_like_secrets_in_repr() -> None:
    fields = PushFields(
        (("auth_code", "x1"), ("Ticket", "x2"), ("info", PushFields((("AccessToken", "x3"),))))
    )
    assert repr(fields) == (
        "PushFields({'auth_code': <hidden>, 'Ticket': <hidden>, "
        "'info': PushFields({'AccessToken': <hidden>})})"
    )
    assert fields["auth_code"] == "x1"


def test_a_user_message_quoting_a_doctype_in_cdata_is_not_refused() -> None:
    push = build_push(MESSAGE, **KEYWORDS, timestamp=SENT, outer_appid_tag="ToUserName")
    got, _ = opened(push.body, push.params)
    assert got.fields["Content"] == "hello <!DOCTYPE html> ]]> world"


def test_max_age_none_accepts_an_old_push() -> None:
    body, params = signed("<xml><CreateTime>5</CreateTime></xml>", timestamp=1000)
    assert "stale" in refusal(body, params)
    push, _ = opened(body, params, max_age=None)
    assert push.create_time == utc(5)


def test_a_push_within_max_age_either_way_is_accepted() -> None:
    body, params = signed("<xml><CreateTime>5</CreateTime></xml>", timestamp=NOW + 300)
    opened(body, params)
    assert "stale" in refusal(body, params, now=NOW - 1)


# ---------------------------------------------------------------------------------------------
# Forgeries and hostile XML


def _forgery(name: str) -> Tuple[bytes, Dict[str, str], Dict[str, Any]]:
    """The body, query and open_push options of the forgery called ``name``."""
    good = build_push(ticket_fields(APPID, TICKET_VALUE, SENT), **KEYWORDS, timestamp=SENT)
    sealed = good.body.split(b"<Encrypt><![CDATA[")[1].split(b"]]>")[0].decode()
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;">]><xml><CreateTime>1</CreateTime><A>&c;</A></xml>'
    )
    tampered = bytearray(base64.b64decode(sealed))
    tampered[40] ^= 1
    fixed = encrypt(b"<xml><CreateTime>1</CreateTime><A>some text here</A></xml>", KEYS, FIXED)
    refixed = bytearray(base64.b64decode(fixed))
    refixed[40] ^= 1
    deep = "<xml><CreateTime>1</CreateTime>" + "<a>" * 40 + "</a>" * 40 + "</xml>"
    forgeries: Dict[str, Any] = {
        "bad signature": (good.body, {**good.params, "msg_signature": "0" * 40}, {}),
        "signature of other case": (
            good.body,
            {**good.params, "msg_signature": good.msg_signature.upper()},
            {},
        ),
        "non-ASCII signature": (good.body, {**good.params, "msg_signature": "é" * 40}, {}),
        "wrong push token": (*signed(encrypted=sealed, token="other-token"), {}),
        "wrong AES key": (
            *signed(encrypted=fixed),
            {"keys": push_keys(TOKEN, OTHER_KEY, APPID)},
        ),
        "wrong appid": (good.body, good.params, {"keys": push_keys(TOKEN, AES_KEY, "wxother")}),
        "stale timestamp": (good.body, good.params, {"now": SENT + 301}),
        "future timestamp": (good.body, good.params, {"now": SENT - 301}),
        "timestamp not an integer": (good.body, {**good.params, "timestamp": "17e8"}, {}),
        "timestamp negative": (good.body, {**good.params, "timestamp": "-1"}, {}),
        "timestamp huge": (good.body, {**good.params, "timestamp": "9" * 400}, {}),
        "tampered ciphertext": (
            good.body.replace(sealed.encode(), base64.b64encode(bytes(tampered))),
            good.params,
            {},
        ),
        "tampered and re-signed": (
            *signed(encrypted=base64.b64encode(bytes(refixed)).decode()),
            {},
        ),
        "garbage body": (b"\x89PNG\r\n\x1a\n garbage", good.params, {}),
        "empty body": (b"", good.params, {}),
        "JSON body": (b'{"Encrypt": "abc"}', good.params, {}),
        "no Encrypt": (b"<xml><AppId>wx</AppId></xml>", good.params, {}),
        "empty Encrypt": (b"<xml><Encrypt>  </Encrypt></xml>", good.params, {}),
        "Encrypt twice": (
            good.body.replace(b"</xml>", b"<Encrypt>x</Encrypt></xml>"),
            good.params,
            {},
        ),
        "Encrypt not text": (b"<xml><Encrypt><a>1</a></Encrypt></xml>", good.params, {}),
        "root not xml": (good.body.replace(b"xml>", b"XML>"), good.params, {}),
        "junk after the root": (good.body + b"<xml/>", good.params, {}),
        "undefined entity": (b"<xml><Encrypt>&lol;</Encrypt></xml>", good.params, {}),
        "padding value 0": (*signed(encrypted=raw_encrypt(ending(b"\x00"))), {}),
        "padding value 33": (*signed(encrypted=raw_encrypt(ending(b"\x21"))), {}),
        "padding bytes unequal": (*signed(encrypted=raw_encrypt(ending(b"\x03\x02\x03"))), {}),
        "DOCTYPE in the body": (
            b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">' + good.body,
            good.params,
            {},
        ),
        "ENTITY in the body": (b"<xml><!entity x 'y'></xml>", good.params, {}),
        "billion laughs in the body": (laughs.encode(), good.params, {}),
        "DOCTYPE hidden from the scan": (
            b"<!-- <![CDATA[ --><!DOCTYPE xml><!-- ]]> -->" + good.body,
            good.params,
            {},
        ),
        "DOCTYPE in an unclosed CDATA": (b"<xml><![CDATA[<!DOCTYPE x>", good.params, {}),
        "billion laughs inside": (*signed(laughs), {}),
        "DOCTYPE hidden inside": (
            *signed("<!-- <![CDATA[ --><!DOCTYPE xml><!-- ]]> --><xml/>"),
            {},
        ),
        "body over the cap": (good.body + b" " * 65536, good.params, {}),
        "body over a small cap": (good.body, good.params, {"max_bytes": 100}),
        "str body over the cap in bytes": (
            good.body.decode() + "<!--" + "中" * 30000 + "-->",
            good.params,
            {},
        ),
        "body not UTF-8": (good.body.replace(b"AppId>", b"AppId\xff>", 1), good.params, {}),
        "str body with a lone surrogate": (good.body.decode() + "\ud800", good.params, {}),
        "inner not UTF-8": (*signed(b"<xml><A>\xff\xfe</A></xml>"), {}),
        "inner not XML": (*signed(b"not xml at all"), {}),
        "inner root not xml": (*signed("<root><CreateTime>1</CreateTime></root>"), {}),
        "inner root a leaf": (*signed("<xml>text</xml>"), {}),
        "inner nested too deeply": (*signed(deep), {}),
        "no CreateTime": (*signed("<xml><InfoType>x</InfoType></xml>"), {}),
        "CreateTime not an integer": (*signed("<xml><CreateTime>soon</CreateTime></xml>"), {}),
        "CreateTime beyond datetime": (
            *signed("<xml><CreateTime>999999999999999</CreateTime></xml>"),
            {},
        ),
        "CreateTime twice": (
            *signed("<xml><CreateTime>1</CreateTime><CreateTime>2</CreateTime></xml>"),
            {},
        ),
        "InfoType not text": (
            *signed("<xml><CreateTime>1</CreateTime><InfoType><a/></InfoType></xml>"),
            {},
        ),
        "code expiry not an integer": (
            *signed(
                "<xml><CreateTime>1</CreateTime>"
                "<AuthorizationCodeExpiredTime>later</AuthorizationCodeExpiredTime></xml>"
            ),
            {},
        ),
        "ticket twice": (
            *signed(
                "<xml><CreateTime>1</CreateTime><ComponentVerifyTicket>a</ComponentVerifyTicket>"
                "<ComponentVerifyTicket>b</ComponentVerifyTicket></xml>"
            ),
            {},
        ),
    }
    return forgeries[name]  # type: ignore[no-any-return]


FORGERIES = {
    "bad signature": "signature",
    "signature of other case": "signature",
    "non-ASCII signature": "signature",
    "wrong push token": "signature",
    "wrong AES key": "padding",
    "wrong appid": "appid",
    "stale timestamp": "stale",
    "future timestamp": "stale",
    "timestamp not an integer": "timestamp is not an integer",
    "timestamp negative": "timestamp is not an integer",
    "timestamp huge": "timestamp is not an integer",
    "tampered ciphertext": "signature",
    "tampered and re-signed": "the decrypted XML is not UTF-8",
    "garbage body": "not UTF-8",
    "empty body": "not well-formed",
    "JSON body": "not well-formed",
    "no Encrypt": "no Encrypt",
    "empty Encrypt": "no Encrypt",
    "Encrypt twice": "Encrypt 2 times",
    "Encrypt not text": "Encrypt is not text",
    "root not xml": "no <xml> root",
    "junk after the root": "not well-formed",
    "undefined entity": "not well-formed",
    "padding value 0": "padding",
    "padding value 33": "padding",
    "padding bytes unequal": "padding",
    "DOCTYPE in the body": "the body holds a DOCTYPE or ENTITY",
    "ENTITY in the body": "the body holds a DOCTYPE or ENTITY",
    "billion laughs in the body": "the body holds a DOCTYPE or ENTITY",
    "DOCTYPE hidden from the scan": "the body holds a DOCTYPE, entity or other declaration",
    "DOCTYPE in an unclosed CDATA": "the body holds a DOCTYPE or ENTITY",
    "billion laughs inside": "the decrypted XML holds a DOCTYPE or ENTITY",
    "DOCTYPE hidden inside": "the decrypted XML holds a DOCTYPE, entity or other declaration",
    "body over the cap": "too large",
    "body over a small cap": "too large",
    "str body over the cap in bytes": "too large",
    "body not UTF-8": "the body is not UTF-8",
    "str body with a lone surrogate": "the body is not UTF-8",
    "inner not UTF-8": "the decrypted XML is not UTF-8",
    "inner not XML": "the decrypted XML is not well-formed",
    "inner root not xml": "the decrypted XML has no <xml> root",
    "inner root a leaf": "CreateTime is missing",
    "inner nested too deeply": "nested more than 32 deep",
    "no CreateTime": "CreateTime is missing",
    "CreateTime not an integer": "CreateTime is missing or not an integer",
    "CreateTime beyond datetime": "CreateTime is not a usable time",
    "CreateTime twice": "CreateTime 2 times",
    "InfoType not text": "InfoType is not text",
    "code expiry not an integer": "AuthorizationCodeExpiredTime is missing or not an integer",
    "ticket twice": "ComponentVerifyTicket 2 times",
}


@pytest.mark.parametrize(("name", "reason"), FORGERIES.items(), ids=list(FORGERIES))
def test_refuses_every_forgery_saying_why(name: str, reason: str) -> None:
    body, params, options = _forgery(name)
    message = refusal(body, params, **options)
    assert message.startswith("push refused: ")
    assert reason in message


def test_a_lying_length_field_is_refused_as_such() -> None:
    plain = framed(b"<xml/>", length=500)
    plain += bytes((32 - len(plain) % 32,)) * (32 - len(plain) % 32)
    body, params = signed(encrypted=raw_encrypt(plain))
    assert "length field" in refusal(body, params)


def test_the_signature_is_checked_before_decrypting(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> bytes:
        raise AssertionError("decrypted before the signature was checked")

    monkeypatch.setattr(_push, "decrypt", fail)
    body, params = signed("<xml><CreateTime>1</CreateTime></xml>")
    assert "signature" in refusal(body, {**params, "msg_signature": "f" * 40})


@pytest.mark.parametrize("raised", [RecursionError, ValueError, MemoryError])
def test_no_exception_of_the_parser_escapes(monkeypatch: pytest.MonkeyPatch, raised: type) -> None:
    def explode(*_: object) -> None:
        raise raised("parser trouble holding " + TOKEN)

    monkeypatch.setattr(_push._TreeBuilder, "start", explode)
    body, params = signed("<xml/>")
    message = refusal(body, params)
    assert "the body" in message
    assert ("nested too deeply" if raised is RecursionError else raised.__name__) in message


# ---------------------------------------------------------------------------------------------
# Arguments


GOOD = build_push(ticket_fields(APPID, TICKET_VALUE, SENT), **KEYWORDS, timestamp=SENT)


@pytest.mark.parametrize(
    ("change", "error", "named"),
    [
        ({"body": bytearray(GOOD.body)}, TypeError, "body"),
        ({"body": None}, TypeError, "body"),
        ({"msg_signature": None}, TypeError, "msg_signature"),
        ({"timestamp": SENT}, TypeError, "timestamp"),
        ({"nonce": b"1"}, TypeError, "nonce"),
        ({"keys": (TOKEN, AES_KEY, APPID)}, TypeError, "keys"),
        ({"now": "now"}, TypeError, "now"),
        ({"now": True}, TypeError, "now"),
        ({"now": float("nan")}, ValueError, "now"),
        ({"max_age": "300"}, TypeError, "max_age"),
        ({"max_age": -1}, ValueError, "max_age"),
        ({"max_age": float("inf")}, ValueError, "max_age"),
        ({"max_bytes": 1.5}, TypeError, "max_bytes"),
        ({"max_bytes": True}, TypeError, "max_bytes"),
        ({"max_bytes": 0}, ValueError, "max_bytes"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else None,
)
def test_bad_arguments_are_type_or_value_errors(
    change: Dict[str, Any], error: type, named: str
) -> None:
    arguments: Dict[str, Any] = {"body": GOOD.body, **GOOD.params, "keys": KEYS, "now": NOW}
    arguments.update(change)
    body = arguments.pop("body")
    with pytest.raises(error) as caught:
        open_push(body, **arguments)
    assert named in str(caught.value)
    assert not isinstance(caught.value, PushVerificationError)


def test_keys_are_push_keys() -> None:
    assert isinstance(KEYS, PushKeys)
