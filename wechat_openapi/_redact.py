"""Keeping tokens and secrets out of every text the library or its transport produces.

WeChat wants the token in the URL's query string, so any text that quotes a URL (a requests
error message, a urllib3 debug line, the ``request_url`` of a rid record) can carry it, and
a server may quote anything the request carried: the token, an AppSecret, a ticket.

Masking goes by shape and by value. By shape: an ``access_token=`` value. By value, for each
secret of the call: a secret of 16 characters or more wherever it stands, a shorter one only
where it stands as a whole value (not inside a longer run of token characters), and any run
of 16 characters or more of a secret (a server's half-copy of it). A short test token such
as ``"e"`` then leaves ``open`` and a rid alone, while a real token is masked even glued to
other text, or cut.

Texts are masked first and cut after: masking shrinks a text, so a text cut first could hand
the mask half a token it cannot recognise (see :func:`shown`).

Log records are masked by a filter on urllib3's loggers and ours, with every secret of every
request in flight (registered for the length of each request): message, arguments,
traceback and stack.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from typing import Any, Dict, Iterable, List, Mapping, Pattern, Protocol, Tuple
from urllib.parse import quote

from .errors import (
    AUTHORIZER_INFO_PATH,
    AUTHORIZER_LIST_PATH,
    AUTHORIZER_TOKEN_PATH,
    COMPONENT_TOKEN_PATH,
    PREAUTHCODE_PATH,
    QUERY_AUTH_PATH,
    STABLE_TOKEN_PATH,
)

MASK = "***"

# The endpoints whose answers carry tokens: every string value in one of their answers is a
# secret in any error about that answer, and their bodies are never quoted (a body cut short,
# or one that is not JSON, holds a token that cannot be told from the text around it).
SECRET_ANSWERS = frozenset(
    {
        STABLE_TOKEN_PATH,
        COMPONENT_TOKEN_PATH,
        AUTHORIZER_TOKEN_PATH,
        PREAUTHCODE_PATH,
        QUERY_AUTH_PATH,
        AUTHORIZER_INFO_PATH,
        AUTHORIZER_LIST_PATH,
    }
)

# access_token= and component_access_token= values, and clear_quota/v2's appid= and appsecret=.
_TOKEN_IN_QUERY = re.compile(
    r"((?:access_token|appid|appsecret)=)[^&#\s'\"()<>\[\],;]*", re.IGNORECASE
)
# The characters WeChat's tokens, secrets, appids and rids are made of: a secret counts as a
# whole value only where neither neighbour is one of these.
_VALUE_CHAR = "A-Za-z0-9_-"
# A secret this long is never an unrelated word: it is masked wherever it stands, and so is
# any run of this many of its characters.
_ANYWHERE = 16
_BLOCK = _ANYWHERE // 2  # a run of _ANYWHERE holds one of a secret's aligned blocks this long
_ECHO_BUDGET = 64 * 1024  # characters of secrets searched for runs (the first, the call's own)
_SHOWN_SCAN = 64 * 1024  # characters of a text masked to find what is shown of it
# Lookups and characters compared when looking for runs: past it, the rest of the text is
# masked (a secret and a text made of one repeated character would take quadratic time).
_RUNS_WORK = 200_000

_STRINGS_MAX = 1000  # strings collected from one answer for masking

# urllib3's loggers (its records quote the request URL, query string included, and a
# header-parsing failure quotes the answer's lines) and ours.
LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "urllib3.contrib.pyopenssl",
    "urllib3.http2.connection",
    "wechat_openapi",
)


def redact_query_token(text: str) -> str:
    """Replace the value of every ``access_token=`` in ``text`` with a mask."""
    return _TOKEN_IN_QUERY.sub(r"\g<1>" + MASK, text) if "=" in text else text


def _forms(secret: str, text: str) -> Tuple[str, ...]:
    """The ways ``secret`` can be written in ``text``: as it is, URL-encoded (only where the
    text has a ``%``), and escaped by ``repr`` or JSON (only where it has a backslash)."""
    forms = [secret]
    if "%" in text:
        forms.append(quote(secret, safe=""))
    if "\\" in text:
        forms += [repr(secret)[1:-1], json.dumps(secret)[1:-1]]
    return tuple(forms)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret (as written, URL-encoded or escaped) masked where it stands
    as a whole value, any run of 16 characters of one masked, and every ``access_token=``
    value masked. Nothing is cut."""
    escaped = "%" in text or "\\" in text
    if len(text) < _ANYWHERE and not escaped:  # the usual errmsg, "ok": no long secret fits
        for secret in secrets:
            if secret and secret in text:
                text = _whole(secret).sub(MASK, text)
        return redact_query_token(text)
    long_forms: List[str] = []
    for secret in secrets:
        if not secret:
            continue
        for form in _forms(secret, text) if escaped else (secret,):
            if len(form) >= _ANYWHERE:
                long_forms.append(form)
                if form in text:  # a real token: masked even inside a longer run
                    text = text.replace(form, MASK)
            elif form in text:
                text = _whole(form).sub(MASK, text)
    if long_forms and len(text) >= _ANYWHERE:
        text = _mask_runs(text, long_forms)
    return redact_query_token(text)


def _whole(secret: str) -> Pattern[str]:
    """``secret`` where it stands as a whole value: no token character on either side."""
    return re.compile(f"(?<![{_VALUE_CHAR}]){re.escape(secret)}(?![{_VALUE_CHAR}])")


def _mask_runs(text: str, secrets: List[str]) -> str:
    """``text`` with every run of 16 or more characters that is also in a secret masked.

    Such a run holds one of the secret's blocks of 8 at an offset divisible by 8, so only
    those blocks are looked up, at each offset of the text, and a hit is grown both ways."""
    blocks: Dict[str, List[Tuple[str, int]]] = {}
    budget = _ECHO_BUDGET
    for secret in secrets:
        budget -= len(secret)
        if budget < 0:
            break
        for offset in range(0, len(secret) - _BLOCK + 1, _BLOCK):
            blocks.setdefault(secret[offset : offset + _BLOCK], []).append((secret, offset))
    spans: List[Tuple[int, int]] = []
    end = len(text)
    work = _RUNS_WORK
    for at in range(end - _BLOCK + 1):
        hits = blocks.get(text[at : at + _BLOCK])
        if not hits:
            continue
        for secret, offset in hits:
            start, back = at, offset
            while start > 0 and back > 0 and text[start - 1] == secret[back - 1]:
                start, back = start - 1, back - 1
            stop, ahead = at + _BLOCK, offset + _BLOCK
            while stop < end and ahead < len(secret) and text[stop] == secret[ahead]:
                stop, ahead = stop + 1, ahead + 1
            work -= 1 + stop - start
            if stop - start >= _ANYWHERE:
                spans.append((start, stop))
            if work < 0:  # a repetitive secret in repetitive text: mask the rest, not wait
                spans.append((at, end))
                break
        if work < 0:
            break
    if not spans:
        return text
    spans.sort()
    pieces: List[str] = []
    kept = 0
    for start, stop in spans:
        if stop <= kept:
            continue
        if start >= kept:
            pieces += [text[kept:start], MASK]
        kept = stop
    pieces.append(text[kept:])
    return "".join(pieces)


def shown(text: str, secrets: Iterable[str], limit: int, *, complete: bool = True) -> str:
    """Server-supplied ``text`` for a message: every secret masked first, then cut to
    ``limit`` characters (``...`` marks a cut).

    Masking shrinks the text, so the part shown can come from anywhere in it: a longer and
    longer start of it is masked until ``limit`` characters are known to be final (a secret
    cut at the end of the part masked may be unmasked in its last characters). ``complete``
    is False when ``text`` is itself only the start of a longer text."""
    secrets = tuple(secret for secret in secrets if secret)
    forms = [form for secret in secrets for form in _forms(secret, text)]
    margin = max([_ANYWHERE, *map(len, forms)])  # what a cut secret leaves unmasked, and more
    size = limit + margin
    while True:
        masked = scrub(text[:size], secrets)
        if size >= len(text) and complete:
            return masked if len(masked) <= limit else masked[:limit] + "..."
        final = len(masked) - margin  # the characters no secret cut at the end can reach
        if final >= limit:
            return masked[:limit] + "..."
        if size >= len(text) or size >= _SHOWN_SCAN:
            return masked[: max(final, 0)] + "..."
        size *= 2


def strings_in(value: Any, *, skip: Tuple[str, ...] = ()) -> Tuple[str, ...]:
    """Every string value in a decoded answer (bounded), but for its top-level ``skip``
    fields: the secrets an error about that answer must not show, since a token endpoint's
    every string may be one."""
    if skip and isinstance(value, Mapping):
        value = {name: item for name, item in value.items() if name not in skip}
    found: List[str] = []
    pending = [value]
    while pending and len(found) < _STRINGS_MAX:
        item = pending.pop()
        if isinstance(item, str):
            if item:
                found.append(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return tuple(found)


# Secrets in flight ---------------------------------------------------------------------------


class Carrier(Protocol):
    """Anything whose ``secrets`` are a call's (a CallContext): read when a record is
    logged, so that a secret the call learns on the way is masked from then on."""

    @property
    def secrets(self) -> Tuple[str, ...]: ...


# Each request in flight's carrier, by a key of its own: a dict's single set and pop need no
# lock, and a secret is held only while a request that carries it runs. CallContext sets and
# pops these itself (two dict operations per request, no call).
_IN_FLIGHT: Dict[int, Carrier] = {}
next_key = itertools.count().__next__


def held(carrier: Carrier) -> int:
    """Register ``carrier``'s secrets for the log filter until :func:`released` is given
    the key this returns."""
    key = next_key()
    _IN_FLIGHT[key] = carrier
    return key


def released(key: int) -> None:
    """Forget the carrier registered under ``key``."""
    _IN_FLIGHT.pop(key, None)


def in_flight() -> Tuple[str, ...]:
    """Every secret of every request in flight, in every thread."""
    for _ in range(8):
        try:
            carriers = tuple(_IN_FLIGHT.values())
        except RuntimeError:  # another thread added or removed a request meanwhile
            continue
        return tuple({secret for one in carriers for secret in one.secrets if secret})
    return ()


class RedactTokenFilter(logging.Filter):
    """A logging filter that masks every secret of every call in flight, and every
    ``access_token=`` value, in a record: its message and arguments (formatted into one
    text), its traceback (turned into masked text, the exception object dropped) and its
    stack.

    Filters run only for records that are actually created, so this costs nothing unless
    a level that urllib3 or the library logs at is switched on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = in_flight()
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: its parts, masked, as text
            message = f"{record.msg} {record.args!r}"
        record.msg = scrub(message, secrets)
        record.args = ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, secrets)
        return True


_FORMATTER = logging.Formatter()
_FILTER = RedactTokenFilter()


def install_log_redaction(logger_names: Iterable[str] = LOGGERS) -> None:
    """Attach the masking filter to urllib3's loggers and ours (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
