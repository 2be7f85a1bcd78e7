"""WeChat's pushes to the platform's callback URL: the untrusted XML, and the Push model.

:func:`open_push` checks a push in the order that spends least on a forgery: the size cap, the
timestamp's age, the XML (no DTD, no entities, bounded depth), the signature, and only then
the AES and the XML inside. Every refusal is a
:class:`~wechat_openapi.errors.PushVerificationError` naming the check that failed; answer it
with an HTTP 4xx. The verify ticket comes back beside the :class:`Push`, never inside it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Dict, Iterator, List, Mapping, NoReturn, Optional, Tuple, Union
from xml.parsers import expat

import attr

from ..errors import PushVerificationError
from ._crypto import PushKeys, decrypt, signature, signature_matches

DEFAULT_MAX_AGE = 300.0  # seconds a push's timestamp may be from now
DEFAULT_MAX_BYTES = 64 * 1024  # a push is a few hundred bytes; WeChat's largest are a few KiB
MAX_DEPTH = 32  # elements deep; WeChat's pushes nest 4 at most

TICKET = "ComponentVerifyTicket"
# The elements the Push models, each taken out of ``fields``; a second copy is refused.
_MODELLED = frozenset(
    {
        "InfoType",
        "CreateTime",
        "AuthorizerAppid",
        "AuthorizationCode",
        "AuthorizationCodeExpiredTime",
        "PreAuthCode",
        TICKET,
    }
)
# Values of elements so named are masked in ``repr`` (notify_third_fasteregister's auth_code,
# for one): a code or a ticket must not reach a log line through a Push printed whole.
_SECRET_NAME = re.compile(r"code|ticket|token|secret|key|password", re.IGNORECASE)
_SECONDS = re.compile(r"[0-9]{1,15}")
_CDATA_OPEN = "<![CDATA["
_CDATA_CLOSE = "]]>"

FieldValue = Union[str, "PushFields"]


class PushFields(Mapping[str, FieldValue]):
    """The elements of a push's XML as a read-only mapping, in document order: a leaf is its
    text, an element with children is a nested PushFields.

    A name WeChat repeats (``<item>`` lists) maps to its first value; :meth:`get_all` gives
    every one. Unlike ``types.MappingProxyType`` it pickles, so a Push can go to a task queue.
    """

    __slots__ = ("_index", "_pairs")

    def __init__(self, pairs: Tuple[Tuple[str, FieldValue], ...] = ()) -> None:
        index: Dict[str, FieldValue] = {}
        for name, value in pairs:
            index.setdefault(name, value)
        self._pairs = tuple(pairs)
        self._index = index

    @property
    def pairs(self) -> Tuple[Tuple[str, FieldValue], ...]:
        """Every (name, value), repeats included, in document order."""
        return self._pairs

    def get_all(self, name: str) -> Tuple[FieldValue, ...]:
        """Every value of the elements named ``name``, in document order."""
        return tuple(value for key, value in self._pairs if key == name)

    def __getitem__(self, name: str) -> FieldValue:
        return self._index[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PushFields):
            return self._pairs == other._pairs
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __reduce__(self) -> Tuple[type, Tuple[Tuple[Tuple[str, FieldValue], ...]]]:
        return (PushFields, (self._pairs,))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name!r}: {'<hidden>' if _SECRET_NAME.search(name) else repr(value)}"
            for name, value in self._pairs
        )
        return f"PushFields({{{shown}}})"


def _hidden(value: Optional[str]) -> str:
    return "None" if value is None else "<hidden>"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Push:
    """One push WeChat sent to the platform's callback URL, verified and decrypted.

    ``info_type`` is the InfoType (``authorized``, ``updateauthorized``, ``unauthorized``,
    ``component_verify_ticket``, or one this model does not know); None for a message or
    event of an authorized account (same crypto; ``fields`` then holds ToUserName, MsgType,
    ...). ``create_time`` is when WeChat made it. ``authorizer_appid`` is the account an
    authorization push is about.

    ``authorization_code`` (with an ``authorized``/``updateauthorized`` push) is a short-lived
    secret: it lives an hour and completes one authorization, once. Exchange it at once; it
    is hidden from ``repr``, as is ``pre_auth_code`` (the pre-auth code the authorization link
    was made with, to match the push to the user who followed it).

    ``fields`` holds every other element (AppId, ToUserName, the elements of info types not
    modelled here); values of elements named like a code, ticket, token or key are masked in
    its ``repr``. The verify ticket is never here: :func:`open_push` returns it beside the
    Push. A Push is immutable, compares by value and pickles.
    """

    info_type: Optional[str]
    create_time: datetime
    authorizer_appid: Optional[str] = None
    authorization_code: Optional[str] = attr.ib(default=None, repr=False)
    authorization_code_expires_at: Optional[datetime] = None
    fields: PushFields = attr.ib(factory=PushFields)
    pre_auth_code: Optional[str] = attr.ib(default=None, repr=_hidden)


class _Refusal(Exception):
    """Raised inside the parser's handlers; its text is ours alone."""


def _refused(what: str) -> PushVerificationError:
    return PushVerificationError(f"push refused: {what}")


def _declares_dtd(text: str) -> bool:
    """Whether ``text`` holds ``<!DOCTYPE`` or ``<!ENTITY`` (any case) outside CDATA sections.

    A declaration cannot stand inside CDATA, while a user's chat message pushed as
    ``<Content><![CDATA[...]]></Content>`` may well quote one; an unclosed CDATA section is
    searched to its end. The parser's own handlers refuse any DTD this misses.
    """
    position = 0
    while position < len(text):
        start = text.find(_CDATA_OPEN, position)
        end = len(text) if start < 0 else start
        markup = text[position:end].lower()
        if "<!doctype" in markup or "<!entity" in markup:
            return True
        if start < 0:
            return False
        close = text.find(_CDATA_CLOSE, start + len(_CDATA_OPEN))
        if close < 0:
            return "<!doctype" in text[start:].lower() or "<!entity" in text[start:].lower()
        position = close + len(_CDATA_CLOSE)
    return False


class _TreeBuilder:
    """Builds the elements' (name, value) pairs on an explicit stack, within MAX_DEPTH."""

    def __init__(self) -> None:
        # Each open element: its name, its children's pairs, its text chunks.
        self.open: List[Tuple[str, List[Tuple[str, FieldValue]], List[str]]] = []
        self.root: Optional[Tuple[str, FieldValue]] = None

    def start(self, name: str, attributes: object) -> None:
        if len(self.open) >= MAX_DEPTH:
            raise _Refusal(f"elements nested more than {MAX_DEPTH} deep")
        self.open.append((name, [], []))

    def end(self, name: str) -> None:
        _, children, chunks = self.open.pop()
        value: FieldValue = PushFields(tuple(children)) if children else "".join(chunks)
        if self.open:
            self.open[-1][1].append((name, value))
        else:
            self.root = (name, value)

    def text(self, data: str) -> None:
        self.open[-1][2].append(data)


def _no_dtd(*_: object) -> NoReturn:
    raise _Refusal("a DOCTYPE, entity or other declaration")


def _parse(text: str, what: str) -> Tuple[Tuple[str, FieldValue], ...]:
    """The children of the ``<xml>`` root of ``text``, with expat hardened against DTDs and
    entities (billion laughs, external entities) and deep nesting."""
    if _declares_dtd(text):
        raise _refused(f"{what} holds a DOCTYPE or ENTITY declaration")
    builder = _TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _no_dtd
    parser.EntityDeclHandler = _no_dtd
    parser.UnparsedEntityDeclHandler = _no_dtd
    parser.NotationDeclHandler = _no_dtd
    parser.ElementDeclHandler = _no_dtd
    parser.AttlistDeclHandler = _no_dtd
    parser.ExternalEntityRefHandler = _no_dtd
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    problem: Optional[str] = None
    try:
        parser.Parse(text, True)
    except _Refusal as refusal:
        problem = f"{what} holds {refusal}"
    except expat.ExpatError as error:
        problem = f"{what} is not well-formed XML ({expat.ErrorString(error.code)})"
    except RecursionError:
        problem = f"{what} is nested too deeply"
    except Exception as error:  # untrusted input: no exception of the parser's escapes
        problem = f"{what} could not be parsed ({type(error).__name__})"
    if problem is not None:
        raise _refused(problem)
    if builder.root is None or builder.root[0] != "xml":
        raise _refused(f"{what} has no <xml> root element")
    children = builder.root[1]
    return children.pairs if isinstance(children, PushFields) else ()


def _leaf(pairs: Tuple[Tuple[str, FieldValue], ...], name: str, what: str) -> Optional[str]:
    """The text of the one element ``name`` among ``pairs``; None if there is none."""
    values = [value for key, value in pairs if key == name]
    if len(values) > 1:
        raise _refused(f"{what} holds {name} {len(values)} times")
    if not values:
        return None
    value = values[0]
    if not isinstance(value, str):
        raise _refused(f"{what}'s {name} is not text")
    return value


def _time(text: Optional[str], name: str) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    seconds = (text or "").strip()
    if not _SECONDS.fullmatch(seconds):
        raise _refused(f"the decrypted XML's {name} is missing or not an integer")
    try:
        return datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        problem = f"the decrypted XML's {name} is not a usable time"
    raise _refused(problem)


def _push(pairs: Tuple[Tuple[str, FieldValue], ...]) -> Tuple[Push, Optional[str]]:
    what = "the decrypted XML"
    leaves = {name: _leaf(pairs, name, what) for name in sorted(_MODELLED)}
    expires = leaves["AuthorizationCodeExpiredTime"]
    push = Push(
        info_type=leaves["InfoType"] or None,
        create_time=_time(leaves["CreateTime"], "CreateTime"),
        authorizer_appid=leaves["AuthorizerAppid"] or None,
        authorization_code=leaves["AuthorizationCode"] or None,
        authorization_code_expires_at=(
            _time(expires, "AuthorizationCodeExpiredTime") if expires else None
        ),
        fields=PushFields(tuple((key, value) for key, value in pairs if key not in _MODELLED)),
        pre_auth_code=leaves["PreAuthCode"] or None,
    )
    return push, leaves[TICKET] or None


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite")
    return float(value)


def _check_arguments(
    body: object,
    texts: Tuple[Tuple[str, object], ...],
    keys: object,
    now: object,
    max_age: object,
    max_bytes: object,
) -> None:
    if not isinstance(body, (bytes, str)):
        raise TypeError(f"body must be bytes or str, got {type(body).__name__}")
    for name, value in texts:
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not isinstance(keys, PushKeys):
        raise TypeError(f"keys must be PushKeys (see push_keys()), got {type(keys).__name__}")
    _number("now", now)
    if max_age is not None and _number("max_age", max_age) < 0:
        raise ValueError("max_age must be None or at least 0 seconds")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int, got {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError("max_bytes must be at least 1")


def open_push(
    body: Union[bytes, str],
    *,
    msg_signature: str,
    timestamp: str,
    nonce: str,
    keys: PushKeys,
    now: float,
    max_age: Optional[float] = DEFAULT_MAX_AGE,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Tuple[Push, Optional[str]]:
    """Verify, decrypt and parse one push: the POST body WeChat sent to the callback URL and
    the ``msg_signature``, ``timestamp`` and ``nonce`` of its query string.

    ``now`` is the current Unix time (``time.time()``); a push whose timestamp is more than
    ``max_age`` seconds from it is refused as stale (None accepts any age). A body over
    ``max_bytes`` is refused unread. Returns the Push and the ComponentVerifyTicket it carried
    (None for other pushes): hand the ticket to ``ComponentPlatform.set_verify_ticket``.

    Raises PushVerificationError naming the failed check; TypeError or ValueError for
    arguments of the wrong type; MissingDependencyError without ``cryptography``.
    """
    texts = (("msg_signature", msg_signature), ("timestamp", timestamp), ("nonce", nonce))
    _check_arguments(body, texts, keys, now, max_age, max_bytes)
    if len(body) > max_bytes:
        raise _refused(f"the body is too large: over max_bytes ({max_bytes})")
    raw: Optional[bytes] = body if isinstance(body, bytes) else None
    if isinstance(body, str):
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            raw = None
        if raw is not None and len(raw) > max_bytes:
            raise _refused(f"the body is too large: over max_bytes ({max_bytes})")
    if not _SECONDS.fullmatch(timestamp):
        raise _refused("the timestamp is not an integer")
    if max_age is not None:
        age = abs(now - int(timestamp))
        if age > max_age:
            raise _refused(f"stale: the timestamp is {age:.0f} s from now, over max_age")
    text = _utf8(raw, "the body")
    outer = _parse(text, "the body")
    encrypted = _leaf(outer, "Encrypt", "the body")
    if not encrypted or not encrypted.strip():
        raise _refused("the body has no Encrypt element, or an empty one")
    expected = signature(keys.push_token, timestamp, nonce, encrypted)
    if not signature_matches(expected, msg_signature):
        raise _refused("the signature does not match (msg_signature, push token, or body)")
    inner = decrypt(encrypted, keys)
    return _push(_parse(_utf8(inner, "the decrypted XML"), "the decrypted XML"))


def _utf8(raw: Optional[bytes], what: str) -> str:
    text: Optional[str] = None
    if raw is not None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None:
        raise _refused(f"{what} is not UTF-8")
    return text
