"""The push crypto: WeChat's signature, its AES with 32-byte padding, and the keys' checks,
against vectors published by WeChat and by a peer library, not only against ourselves."""

from __future__ import annotations

import base64
import pickle
import struct
from typing import Any, Tuple

import pytest

# The [platform] extra: tests/test_push_optional.py runs without it.
pytest.importorskip("cryptography")

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.test_redaction import texts_of
from wechat_openapi.errors import PushVerificationError
from wechat_openapi.platform._crypto import (
    BLOCK,
    PushKeys,
    decrypt,
    encrypt,
    push_keys,
    signature,
    sorted_sha1,
)

# WeChat's sample code for its message crypto (WXBizMsgCrypt, "cryptoDemo", linked from the
# open platform's "消息加解密说明"), whose WXBizMsgCryptTest.java fixes the random prefix and
# asserts the ciphertext. Copies of that test are in many repositories; the one read here is
# CNERic/WeiXin, src/test/java/com/qq/weixin/mp/aes/WXBizMsgCryptTest.java (commit 0c752e13).
SAMPLE_KEYS = ("pamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxb11529c136998cb6")
SAMPLE_RANDOM = b"aaaabbbbccccdddd"
SAMPLE_TEXT = "我是中文abcd123"
SAMPLE_TEXT_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
SAMPLE_MESSAGE = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName>"
    "<CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType>"
    "<Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]>"
    "</MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title>"
    "<Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
)
SAMPLE_MESSAGE_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxl"
    "kupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HL"
    "Xa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77b"
    "ZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+x"
    "RTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo"
    "4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspK"
    "A5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMla"
    "FExWUZQDajPkdPrEeOwofJb"
)

# A component_verify_ticket push as WeChat sent it to a platform (AppId shape, signed), kept
# in the same file of CNERic/WeiXin (its test() method; the wuyongwen/WeiXin copy of that
# file adds the query's ``signature``).
TICKET_KEYS = ("wxtoken", "KgwVOifMrDO0tQNbzdoeWP6abSF2MIN97UuSlZDLrAI", "wx7613bea5e4d18127")
TICKET_QUERY = {
    "msg_signature": "a25c1dc7796b63db9472abc040f9549f258abacf",
    "timestamp": "1456907505",
    "nonce": "1231152662",
}
TICKET_URL_SIGNATURE = "5ff423fff7c316e95f0a06cfe799222e50c0a379"
TICKET_ENCRYPTED = (
    "MyFm7jGFq7JwVR6TRPYsk7vFpDrO8Q51ZBzXVNbWBRDw7dhkFEE9QNIHtV6Oe2I27SjWoZ1cTx+s4YJOJM0wR5w6w"
    "C63T6LQ44lg51jpkjYW37FmS0VOnAvPzN2JzZWBtfvBqezh1/E06fNHiQJQR4hkrpjsocDOcxjAg8UJ3GiXQukGp"
    "JE71S6frCAfgMFKLzXb63TLpCbO8DFLPDnIa9nAX3eyv+HBNw7Ckih1cwlejq3pF6kr9oFLIgNsPB3AfhKSwwgPQ"
    "jBy6NUzQaJIDOwrvNA6fgWMvL7Qpf7wP6So9fsXD/ILSGrjrcFEi7jmspThO8JY2/ERfU2NXzNv7l/El5KtzPapp"
    "wY7r2X2Gk35Fhap6ao1AKbJqFiuHAdKIBmUesfrtGACz2mZ03U71qL2wsDZMU92WOtwhTPqhNuGNeESmHVhVfFUJ"
    "4Obb94lymX74ronMkV+Vw9oeirLMw=="
)
TICKET_BODY = (
    "<xml><AppId><![CDATA[wx7613bea5e4d18127]]></AppId>"
    f"<Encrypt><![CDATA[{TICKET_ENCRYPTED}]]></Encrypt></xml>"
).encode()
TICKET = (
    "ticket@@@qPqkUTeHRYFx6YqZderhqO2geh2EhIzGlDE30eHf0vrUPXmNY8QMIoWgc93l10Bgbyh8eHB3hrBk"
    "_zvpwhV0Gw"
)

# wechatpy's tests/test_crypto.py (wechatpy/wechatpy, commit 3d560725): a signed message push
# (ToUserName shape) of WeChat Work, whose crypto is WeChat's, and a reply it encrypts with a
# fixed random prefix and signs.
PEER_KEYS = ("123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a")
PEER_QUERY = {
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "timestamp": "1411525903",
    "nonce": "461056294",
}
PEER_BODY = (
    b"<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    b"<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu"
    b"7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8Xza"
    b"FYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29m"
    b"TvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGh"
    b"cUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]>"
    b"</Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>"
)
PEER_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    "<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
    "<CreateTime>1411525903</CreateTime>\n</xml>"
)
PEER_REPLY_RANDOM = b"1234567890123456"
PEER_REPLY_ENCRYPTED = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBq"
    "GsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFh"
    "HZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX0"
    "5UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3"
    "WeK2XeFYFMNMpatF9XiKzHo3"
)
PEER_REPLY_SIGNATURE = "407518b7649e86ef23978113f92d27afa9296533"

# Our own keys: long random-looking values, so a leak is found by substring.
TOKEN = "PushTokenSentinel7f3a9c"
AES_KEY = "Qm9vdHN0cmFwU2VudGluZWxLZXlGb3JUZXN0c0FFUzI"
APPID = "wxcomponent0123456789"
KEYS = push_keys(TOKEN, AES_KEY, APPID)


def raw_encrypt(plain: bytes, keys: PushKeys = KEYS) -> str:
    """AES-256-CBC of ``plain`` exactly as given (no framing, no padding): for forgeries."""
    key = keys.aes_key
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def framed(xml: bytes, appid: bytes = APPID.encode(), length: int = -1) -> bytes:
    """A plaintext as WeChat lays it out, without padding; ``length`` may lie."""
    return b"r" * 16 + struct.pack(">I", len(xml) if length < 0 else length) + xml + appid


def padded(plain: bytes) -> bytes:
    pad = BLOCK - len(plain) % BLOCK
    return plain + bytes((pad,)) * pad


def refusal(encrypted: str, keys: PushKeys = KEYS) -> PushVerificationError:
    with pytest.raises(PushVerificationError) as caught:
        decrypt(encrypted, keys)
    return caught.value


# ---------------------------------------------------------------------------------------------
# Published vectors


def test_decrypts_wechats_sample_message_to_its_documented_plaintext() -> None:
    """WeChat's sample code, WXBizMsgCryptTest.testAesEncrypt2 (see SAMPLE_KEYS): a message
    push (ToUserName, a video) decrypts to the XML the sample asserts."""
    keys = push_keys(*SAMPLE_KEYS)
    assert decrypt(SAMPLE_MESSAGE_ENCRYPTED, keys).decode("utf-8") == SAMPLE_MESSAGE
    assert decrypt(SAMPLE_TEXT_ENCRYPTED, keys).decode("utf-8") == SAMPLE_TEXT


@pytest.mark.parametrize(
    ("plain", "expected"),
    [(SAMPLE_MESSAGE, SAMPLE_MESSAGE_ENCRYPTED), (SAMPLE_TEXT, SAMPLE_TEXT_ENCRYPTED)],
    ids=["message", "text"],
)
def test_encrypts_as_wechats_sample_does_with_its_random_prefix(plain: str, expected: str) -> None:
    """WeChat's sample code, testAesEncrypt and testAesEncrypt2: the same random prefix gives
    the same ciphertext, byte for byte (the 32-byte padding included)."""
    keys = push_keys(*SAMPLE_KEYS)
    assert encrypt(plain.encode("utf-8"), keys, random16=SAMPLE_RANDOM) == expected


def test_a_real_ticket_push_verifies_and_decrypts() -> None:
    """A component_verify_ticket push WeChat sent (CNERic/WeiXin's WXBizMsgCryptTest.test()):
    both of its signatures match, and it decrypts to the AppId shape with its ticket."""
    token, _, _ = TICKET_KEYS
    keys = push_keys(*TICKET_KEYS)
    query = TICKET_QUERY
    assert (
        signature(token, query["timestamp"], query["nonce"], TICKET_ENCRYPTED)
        == (query["msg_signature"])
    )
    assert sorted_sha1(token, query["timestamp"], query["nonce"]) == TICKET_URL_SIGNATURE
    xml = decrypt(TICKET_ENCRYPTED, keys)
    assert xml.startswith(b"<xml><AppId><![CDATA[wx7613bea5e4d18127]]></AppId>\n<CreateTime>")
    assert f"<ComponentVerifyTicket><![CDATA[{TICKET}]]>".encode() in xml


def test_a_peer_librarys_signed_message_push_verifies_and_decrypts() -> None:
    """wechatpy's test_decrypt_message: its msg_signature matches ours, and the push decrypts
    to the message it asserts (Content "test" from "messense")."""
    token, _, _ = PEER_KEYS
    encrypted = PEER_BODY.split(b"<![CDATA[")[2].split(b"]]>")[0].decode()
    query = PEER_QUERY
    assert (
        signature(token, query["timestamp"], query["nonce"], encrypted) == (query["msg_signature"])
    )
    xml = decrypt(encrypted, push_keys(*PEER_KEYS))
    assert b"<FromUserName><![CDATA[messense]]></FromUserName>" in xml
    assert b"<Content><![CDATA[test]]></Content>" in xml


def test_encrypts_and_signs_as_a_peer_library_does() -> None:
    """wechatpy's test_encrypt_message: the same random prefix gives its ciphertext, and our
    signature of it is its MsgSignature."""
    token, _, _ = PEER_KEYS
    keys = push_keys(*PEER_KEYS)
    encrypted = encrypt(PEER_REPLY.encode(), keys, random16=PEER_REPLY_RANDOM)
    assert encrypted == PEER_REPLY_ENCRYPTED
    assert signature(token, "1411525903", "461056294", encrypted) == PEER_REPLY_SIGNATURE


# ---------------------------------------------------------------------------------------------
# Round trips and refusals


@pytest.mark.parametrize("length", [0, 1, 11, 12, 13, 31, 32, 44, 45, 100])
def test_round_trips_every_padding_length(length: int) -> None:
    """16 + 4 + length + 21 bytes of appid: the lengths cover pads of 1, 32 and between."""
    xml = bytes(range(65, 65 + 26)) * 4
    sealed = encrypt(xml[:length], KEYS)
    assert len(base64.b64decode(sealed)) % BLOCK == 0
    assert decrypt(sealed, KEYS) == xml[:length]


def test_pads_to_32_byte_blocks_with_pads_over_16() -> None:
    """16 + 4 + 24 + 21 = 65 bytes get 31 pad bytes, which ``PKCS7(128)`` would refuse."""
    sealed = encrypt(b"x" * 24, KEYS)
    key = KEYS.aes_key
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    opened = decryptor.update(base64.b64decode(sealed)) + decryptor.finalize()
    assert len(opened) == 96
    assert opened[-31:] == bytes((31,)) * 31
    assert decrypt(sealed, KEYS) == b"x" * 24


OTHER_KEY = "b3RoZXJLZXlPdGhlcktleU90aGVyS2V5T3RoZXJLZXk"


def ending(last: bytes, total: int = 64) -> bytes:
    """A plaintext of ``total`` bytes, WeChat's layout at its start, ending with ``last``."""
    start = framed(b"<xml/>")
    return start + b"z" * (total - len(start) - len(last)) + last


FIXED = b"f" * 16  # a fixed random prefix: the outcome of a forgery is then the same every run


@pytest.mark.parametrize(
    ("encrypted", "keys", "reason"),
    [
        ("not base64!", KEYS, "not base64"),
        ("bm90IGFzY2lpIOKAlA==\u2014", KEYS, "not base64"),
        ("", KEYS, "not a positive multiple"),
        (base64.b64encode(b"x" * 20).decode(), KEYS, "not a positive multiple"),
        (raw_encrypt(ending(b"\x00")), KEYS, "padding"),
        (raw_encrypt(ending(b"\x21")), KEYS, "padding"),
        (raw_encrypt(ending(b"\x21" * 33, total=96)), KEYS, "padding"),
        (raw_encrypt(ending(b"\x05\x05\x04\x05\x05")), KEYS, "padding"),
        (raw_encrypt(b"r" * 15 + b"\x20"), KEYS, "padding"),
        (raw_encrypt(b"r" * 16 + bytes((16,)) * 16), KEYS, "too short"),
        (raw_encrypt(padded(framed(b"<xml/>", length=4000))), KEYS, "length field"),
        (raw_encrypt(padded(framed(b"<xml/>", length=2**32 - 1))), KEYS, "length field"),
        (raw_encrypt(padded(framed(b"<xml/>", b"wxother"))), KEYS, "appid"),
        (raw_encrypt(padded(framed(b"<xml/>", APPID.encode() + b"x"))), KEYS, "appid"),
        (raw_encrypt(padded(framed(b"<xml/>", b""))), KEYS, "appid"),
        (encrypt(b"<xml/>", KEYS), push_keys(TOKEN, AES_KEY, "wxother"), "appid"),
        (encrypt(b"<xml/>" * 9, KEYS, FIXED), push_keys(TOKEN, OTHER_KEY, APPID), "padding"),
    ],
    ids=[
        "bad base64",
        "non-ASCII base64",
        "empty",
        "not a multiple of 16",
        "pad value 0",
        "pad value 33",
        "33 pad bytes of 33",
        "pad bytes not all equal",
        "pad longer than the plaintext",
        "too short for the length field",
        "length field lying",
        "length field of 4 GiB",
        "another appid",
        "the appid and more",
        "no appid",
        "keys of another platform",
        "wrong AES key",
    ],
)
def test_refuses_a_bad_ciphertext(encrypted: str, keys: PushKeys, reason: str) -> None:
    error = refusal(encrypted, keys)
    assert reason in str(error)
    assert error.__context__ is None
    assert error.__cause__ is None


def test_refuses_a_ciphertext_tampered_near_its_end() -> None:
    """A flipped byte in the last two blocks garbles the padding or the appid. (CBC cannot
    tell a flip earlier on: that is the signature's job, checked first by open_push.)"""
    sealed = base64.b64decode(encrypt(b"<xml><A>1</A></xml>", KEYS, FIXED))
    for position in range(len(sealed) - 32, len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x5A
        refusal(base64.b64encode(bytes(tampered)).decode())


def test_refusals_show_no_key_token_ciphertext_or_plaintext() -> None:
    secret_xml = b"<xml><Secret>plaintext-sentinel-8d1e</Secret></xml>"
    sealed = encrypt(secret_xml, KEYS)
    for keys in (push_keys(TOKEN, AES_KEY, "wxother"), push_keys(TOKEN, OTHER_KEY, APPID)):
        for text in texts_of(refusal(sealed, keys)):
            for secret in (TOKEN, AES_KEY, OTHER_KEY, sealed, "plaintext-sentinel", "Secret"):
                assert secret not in text


# ---------------------------------------------------------------------------------------------
# The keys


def test_keys_hide_every_value_and_pickle() -> None:
    assert repr(KEYS) == (
        "PushKeys(push_token=<hidden>, encoding_aes_key=<hidden>, appid=<hidden>)"
    )
    assert pickle.loads(pickle.dumps(KEYS)) == KEYS
    assert len(KEYS.aes_key) == 32


@pytest.mark.parametrize(
    ("arguments", "error", "named"),
    [
        ((None, AES_KEY, APPID), TypeError, "push_token"),
        (("", AES_KEY, APPID), ValueError, "push_token"),
        (("  ", AES_KEY, APPID), ValueError, "push_token"),
        ((TOKEN, b"x" * 43, APPID), TypeError, "encoding_aes_key"),
        ((TOKEN, "", APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY[:42], APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY + "A", APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY[:42] + "!", APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY[:42] + "é", APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY[:40] + "===", APPID), ValueError, "encoding_aes_key"),
        ((TOKEN, AES_KEY, 7), TypeError, "appid"),
        ((TOKEN, AES_KEY, ""), ValueError, "appid"),
    ],
    ids=[
        "token None",
        "token empty",
        "token blank",
        "key bytes",
        "key empty",
        "key 42 characters",
        "key 44 characters",
        "key not base64",
        "key not ASCII",
        "key padded short",
        "appid int",
        "appid empty",
    ],
)
def test_push_keys_refuses_bad_settings_naming_them_not_their_values(
    arguments: Tuple[Any, Any, Any], error: type, named: str
) -> None:
    with pytest.raises(error) as caught:
        push_keys(*arguments)
    assert named in str(caught.value)
    for value in arguments:
        if isinstance(value, str) and len(value) > 3:
            assert value not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Arguments


def test_encrypt_and_decrypt_check_their_arguments() -> None:
    with pytest.raises(TypeError, match="xml must be bytes"):
        encrypt("<xml/>", KEYS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="random16 must be 16 bytes"):
        encrypt(b"<xml/>", KEYS, random16=b"short")
    with pytest.raises(TypeError, match="encrypt_b64 must be a str"):
        decrypt(b"abcd", KEYS)  # type: ignore[arg-type]
