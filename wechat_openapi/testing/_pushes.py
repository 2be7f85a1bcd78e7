"""Real pushes for tests: WeChat's XML, encrypted and signed as WeChat does, and a POST of
one to your callback URL.

``build_push`` makes the body and query string WeChat would send; ``ticket_fields``,
``authorized_fields`` and ``unauthorized_fields`` give the elements of each push a platform
must handle. Encrypting needs ``cryptography`` (``pip install "wechat-openapi[platform]"``),
imported only when a push is built; the rest of ``wechat_openapi.testing`` needs nothing but
the standard library.
"""

from __future__ import annotations

import re
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlencode, urlsplit

import attr

from ..platform._crypto import encrypt, push_keys, signature, sorted_sha1

Time = Union[datetime, float, int]
Fields = List[Tuple[str, str]]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_DIGITS = re.compile(r"[0-9]+")
AUTHORIZED_TYPES = ("authorized", "updateauthorized")


def _masked(value: object) -> str:
    return "<hidden>"


def _epoch(name: str, value: Time) -> int:
    """Unix seconds of ``value`` (a datetime, or seconds)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a datetime or Unix seconds, got {type(value).__name__}")
    return int(value)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SignedPush:
    """One push as WeChat sends it: the POST ``body`` and the query string's values.

    ``signature`` is the query's ``signature`` (the push token, timestamp and nonce signed);
    ``msg_signature`` also signs the Encrypt text. The body and both signatures are hidden
    from ``repr``.
    """

    body: bytes = attr.ib(repr=_masked)
    msg_signature: str = attr.ib(repr=_masked)
    timestamp: str
    nonce: str
    signature: str = attr.ib(repr=_masked)

    @property
    def query(self) -> str:
        """The query string WeChat appends to the callback URL (URL-encoded)."""
        return urlencode(
            [
                ("signature", self.signature),
                ("timestamp", self.timestamp),
                ("nonce", self.nonce),
                ("encrypt_type", "aes"),
                ("msg_signature", self.msg_signature),
            ]
        )

    @property
    def params(self) -> Dict[str, str]:
        """The keywords ``open_push`` takes from the query: ``open_push(push.body,
        **push.params, keys=..., now=...)``."""
        return {
            "msg_signature": self.msg_signature,
            "timestamp": self.timestamp,
            "nonce": self.nonce,
        }

    def deliver(self, url: str, timeout: float = 5.0) -> Tuple[int, bytes]:
        """POST the push to ``url`` (your callback view, on a local server) as WeChat does,
        with the query string appended, and return the answer's (status, body). An HTTP
        error status is returned, not raised. Proxies from the environment are not used."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("url must be an http:// or https:// URL")
        separator = "&" if "?" in url else "?"
        request = urllib.request.Request(
            f"{url}{separator}{self.query}",
            data=self.body,
            method="POST",
            headers={"Content-Type": "text/xml"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), bytes(error.read())


def _cdata(name: str, value: str) -> str:
    """``<name><![CDATA[value]]></name>``; a "]]>" in ``value`` splits the section in two."""
    return f"<{name}><![CDATA[{value.replace(']]>', ']]]]><![CDATA[>')}]]></{name}>"


def _element(name: str, value: str) -> str:
    """``<name>value</name>`` as WeChat writes it: digits bare, text in CDATA."""
    return f"<{name}>{value}</{name}>" if _DIGITS.fullmatch(value) else _cdata(name, value)


def _checked_fields(fields: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    checked = []
    for pair in fields:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError("fields must be a sequence of (name, value) pairs")
        name, value = pair
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError("each field name must be an XML element name")
        if not isinstance(value, str):
            raise TypeError(f"the value of {name} must be a str, got {type(value).__name__}")
        checked.append((name, value))
    return checked


def build_push(
    fields: Sequence[Tuple[str, str]],
    *,
    push_token: str,
    encoding_aes_key: str,
    appid: str,
    timestamp: Optional[int] = None,
    nonce: Optional[str] = None,
    outer_appid_tag: str = "AppId",
) -> SignedPush:
    """A push of ``fields`` (the decrypted XML's elements, in order), encrypted with the
    platform's keys and signed as WeChat does.

    The body is ``<xml><AppId>...</AppId><Encrypt>...</Encrypt></xml>``; message pushes to an
    authorized account carry ``ToUserName`` instead (``outer_appid_tag="ToUserName"``), whose
    value is taken from ``fields`` when they hold it, else ``appid``. ``timestamp`` defaults
    to now, ``nonce`` to random digits.
    """
    checked = _checked_fields(fields)
    keys = push_keys(push_token, encoding_aes_key, appid)
    if not isinstance(outer_appid_tag, str) or not _NAME.fullmatch(outer_appid_tag):
        raise ValueError("outer_appid_tag must be an XML element name")
    if timestamp is None:
        timestamp = int(time.time())
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError(f"timestamp must be an int, got {type(timestamp).__name__}")
    if nonce is None:
        nonce = str(secrets.randbelow(10**10))
    if not isinstance(nonce, str) or not nonce:
        raise TypeError("nonce must be a non-empty str")
    inner = "<xml>" + "".join(_element(name, value) for name, value in checked) + "</xml>"
    sealed = encrypt(inner.encode("utf-8"), keys)
    outer_value = dict(reversed(checked)).get(outer_appid_tag, appid)
    body = f"<xml>{_cdata(outer_appid_tag, outer_value)}{_cdata('Encrypt', sealed)}</xml>"
    stamp = str(timestamp)
    return SignedPush(
        body=body.encode("utf-8"),
        msg_signature=signature(push_token, stamp, nonce, sealed),
        timestamp=stamp,
        nonce=nonce,
        signature=sorted_sha1(push_token, stamp, nonce),
    )


def ticket_fields(component_appid: str, ticket: str, create_time: Time) -> Fields:
    """The elements of a ``component_verify_ticket`` push (one every 10 minutes)."""
    return [
        ("AppId", component_appid),
        ("CreateTime", str(_epoch("create_time", create_time))),
        ("InfoType", "component_verify_ticket"),
        ("ComponentVerifyTicket", ticket),
    ]


def authorized_fields(
    component_appid: str,
    authorizer_appid: str,
    code: str,
    code_expires_at: Time,
    pre_auth_code: str,
    create_time: Time,
    info_type: str = "authorized",
) -> Fields:
    """The elements of an ``authorized`` push (an account authorized the platform), or with
    ``info_type="updateauthorized"`` of one whose authorization changed."""
    if info_type not in AUTHORIZED_TYPES:
        raise ValueError(f"info_type must be one of {AUTHORIZED_TYPES}")
    return [
        ("AppId", component_appid),
        ("CreateTime", str(_epoch("create_time", create_time))),
        ("InfoType", info_type),
        ("AuthorizerAppid", authorizer_appid),
        ("AuthorizationCode", code),
        ("AuthorizationCodeExpiredTime", str(_epoch("code_expires_at", code_expires_at))),
        ("PreAuthCode", pre_auth_code),
    ]


def unauthorized_fields(component_appid: str, authorizer_appid: str, create_time: Time) -> Fields:
    """The elements of an ``unauthorized`` push (an account revoked the platform)."""
    return [
        ("AppId", component_appid),
        ("CreateTime", str(_epoch("create_time", create_time))),
        ("InfoType", "unauthorized"),
        ("AuthorizerAppid", authorizer_appid),
    ]
