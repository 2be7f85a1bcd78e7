"""The signature check and the AES of WeChat's pushes to a third-party platform's callback URL.

WeChat signs each push with ``msg_signature = sha1(the push token, timestamp, nonce and the
Encrypt text, sorted as strings and joined)`` and encrypts its XML with AES-256-CBC under the
platform's EncodingAESKey: key = base64decode(EncodingAESKey + "="), IV = the key's first 16
bytes. The plaintext is 16 random bytes, the XML's length (4 bytes, big-endian), the XML, then
the platform's appid, padded PKCS#7-style to a multiple of **32** bytes (pad bytes 1 to 32).
``cryptography``'s ``PKCS7(128)`` refuses genuine pushes whose pad exceeds 16, so the padding
is checked here.

``cryptography`` is an optional dependency (``pip install "wechat-openapi[platform]"``): this
module imports without it, and :func:`push_keys` validates without it, so a misconfigured key
fails at start-up even where the extra is missing. Only :func:`decrypt` and :func:`encrypt`
need it, and raise :class:`~wechat_openapi.errors.MissingDependencyError` when it is absent.

Every refusal is a :class:`~wechat_openapi.errors.PushVerificationError` saying which check
failed; none quotes the push token, the key, the ciphertext or any decrypted byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from typing import TYPE_CHECKING, Optional

import attr

from ..errors import MissingDependencyError, PushVerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

BLOCK = 32  # WeChat's PKCS#7 block: pad bytes run from 1 to 32, not AES's 16
_RANDOM = 16  # the random bytes that open every plaintext
_LENGTH = struct.Struct(">I")  # the XML's length, after the random bytes
_KEY_CHARS = 43  # an EncodingAESKey: 43 base64 characters, 32 bytes once "=" is added
INSTALL_HINT = 'pip install "wechat-openapi[platform]"'


def _hidden(_: object) -> str:
    return "<hidden>"


def _text(name: str, value: object) -> str:
    """``value`` if it is a non-empty str; the error names ``name``, never the value."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def _aes_key(encoding_aes_key: object) -> bytes:
    """The 32-byte AES key an EncodingAESKey stands for; the error never quotes the key."""
    text = _text("encoding_aes_key", encoding_aes_key)
    key: Optional[bytes] = None
    if len(text) == _KEY_CHARS:
        try:
            key = base64.b64decode(text + "=", validate=True)
        except (binascii.Error, ValueError):  # not base64, or not ASCII
            key = None
    if key is None or len(key) != 32:
        raise ValueError(
            f"encoding_aes_key must be {_KEY_CHARS} characters of base64 (the platform's "
            f"EncodingAESKey) decoding to 32 bytes; it has {len(text)} characters or is "
            "not base64"
        )
    return key


def _check_text(_: object, attribute: attr.Attribute[str], value: object) -> None:
    _text(attribute.name, value)


def _check_key(_: object, __: attr.Attribute[str], value: object) -> None:
    _aes_key(value)


@attr.s(frozen=True, slots=True)
class PushKeys:
    """What verifies and decrypts the platform's pushes: the message token, the EncodingAESKey
    and the platform's own appid (which ends every plaintext). Build it once, at start-up,
    with :func:`push_keys`; all three values are hidden from ``repr``."""

    push_token: str = attr.ib(repr=_hidden, validator=_check_text)
    encoding_aes_key: str = attr.ib(repr=_hidden, validator=_check_key)
    appid: str = attr.ib(repr=_hidden, validator=_check_text)

    @property
    def aes_key(self) -> bytes:
        """The 32-byte AES key (its first 16 bytes are the IV)."""
        return base64.b64decode(self.encoding_aes_key + "=")


def push_keys(push_token: str, encoding_aes_key: str, appid: str) -> PushKeys:
    """Check the platform's push settings and keep them: ``push_token`` (消息校验Token),
    ``encoding_aes_key`` (消息加解密Key, 43 characters) and ``appid`` (the platform's
    component appid). Needs no ``cryptography``, so a bad key fails at start-up.

    Raises TypeError or ValueError naming the bad argument, never quoting its value.
    """
    return PushKeys(push_token, encoding_aes_key, appid)


def sorted_sha1(*parts: str) -> str:
    """SHA-1 hex of ``parts`` sorted as strings and joined: WeChat's signature scheme."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature(push_token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The ``msg_signature`` WeChat sends with a push whose Encrypt text is ``encrypt``."""
    return sorted_sha1(push_token, timestamp, nonce, encrypt)


def signature_matches(expected: str, given: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time (``compare_digest`` takes
    only ASCII str, so both are compared as UTF-8 bytes)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), given.encode("utf-8", "replace")
    )


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    """AES-256-CBC with WeChat's IV; MissingDependencyError without ``cryptography``."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        pass  # raised below, outside this block, so the ImportError is not its context
    else:
        return Cipher(algorithms.AES(key), modes.CBC(key[:16]))
    raise MissingDependencyError(
        f"decrypting and encrypting WeChat's pushes needs the cryptography package: {INSTALL_HINT}"
    )


def _refused(what: str) -> PushVerificationError:
    return PushVerificationError(f"push refused: {what}")


def decrypt(encrypt_b64: str, keys: PushKeys) -> bytes:
    """The XML inside a push's Encrypt text, checked: its padding, its length field, and the
    appid at its end, which must be ``keys.appid`` exactly.

    Verify the signature first (``open_push`` does): this proves nothing about who sent it.
    """
    if not isinstance(encrypt_b64, str):
        raise TypeError(f"encrypt_b64 must be a str, got {type(encrypt_b64).__name__}")
    cipher = _cipher(keys.aes_key)
    try:
        sealed: Optional[bytes] = base64.b64decode(encrypt_b64, validate=True)
    except (binascii.Error, ValueError):  # not base64, or not ASCII
        sealed = None
    if sealed is None:
        raise _refused("Encrypt is not base64")
    if not sealed or len(sealed) % 16:
        raise _refused(
            f"the ciphertext is {len(sealed)} bytes, not a positive multiple of AES's 16"
        )
    decryptor = cipher.decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= min(BLOCK, len(plain)) or plain[-pad:] != bytes((pad,)) * pad:
        raise _refused("bad padding (wrong key, or a tampered ciphertext)")
    content = plain[:-pad]
    if len(content) < _RANDOM + _LENGTH.size:
        raise _refused("the plaintext is too short to hold its length field")
    (length,) = _LENGTH.unpack_from(content, _RANDOM)
    start = _RANDOM + _LENGTH.size
    if length > len(content) - start:
        raise _refused("the length field runs past the end of the plaintext")
    appid = content[start + length :]
    if not hmac.compare_digest(appid, keys.appid.encode("utf-8")):
        raise _refused("the appid at the end of the plaintext is not this platform's")
    return content[start : start + length]


def encrypt(xml: bytes, keys: PushKeys, random16: Optional[bytes] = None) -> str:
    """The Encrypt text WeChat would send for ``xml``: the inverse of :func:`decrypt`, for
    the testing fake's pushes. ``random16`` (16 bytes) fixes the random prefix for
    known-answer tests; by default it is random."""
    if not isinstance(xml, bytes):
        raise TypeError(f"xml must be bytes, got {type(xml).__name__}")
    if random16 is None:
        random16 = os.urandom(_RANDOM)
    if not isinstance(random16, bytes) or len(random16) != _RANDOM:
        raise ValueError(f"random16 must be {_RANDOM} bytes")
    cipher = _cipher(keys.aes_key)
    plain = random16 + _LENGTH.pack(len(xml)) + xml + keys.appid.encode("utf-8")
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes((pad,)) * pad
    encryptor = cipher.encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")
