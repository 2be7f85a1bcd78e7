"""Checking that a secret shows nowhere: not whole, not URL-encoded, not as any 16-character
window (a half-copy left where a text was cut), in any text an error or a log record gives."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from typing import Iterable, Iterator, List, Union
from urllib.parse import quote

WINDOW = 16  # the longest piece of a secret that may show, less one


def error_texts(error: BaseException) -> List[str]:
    """Every text a user, a log handler or an error tracker can get from ``error``: str, repr,
    args and attributes, along the ``__cause__``/``__context__`` chain, the formatted
    traceback, and the error after a pickle round trip."""
    texts = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    seen: List[BaseException] = []
    pending: List[BaseException] = [error]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        copy = pickle.loads(pickle.dumps(current))
        texts += [str(copy), repr(copy.args), repr(vars(copy))]
        pending += [link for link in (current.__cause__, current.__context__) if link]
    return texts


def record_texts(record: logging.LogRecord) -> List[str]:
    """Every text a handler can get from ``record``: the message, its args, the traceback
    (as text, and formatted from ``exc_info``) and the stack."""
    texts = [record.getMessage(), repr(record.msg), repr(record.args), str(record.stack_info)]
    texts.append(str(record.exc_text))
    if record.exc_info:
        texts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_info[1] is not None:
            texts += error_texts(record.exc_info[1])
    return texts


def windows(secret: str) -> Iterator[str]:
    """The secret's pieces that must not show: itself (as it is, URL-encoded, and escaped
    by repr or JSON) if shorter than the window, else each of its windows."""
    escaped = {repr(secret)[1:-1], json.dumps(secret)[1:-1], repr(repr(secret))[2:-2]}
    for form in {secret, quote(secret, safe=""), *escaped}:
        if len(form) <= WINDOW:
            yield form
        else:
            yield from (form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1))


def assert_no_secret(
    secret: Union[str, Iterable[str]],
    shown: Union[BaseException, logging.LogRecord, str, Iterable[object]],
) -> None:
    """Fail if any piece of ``secret`` (or of each secret given) shows in ``shown``: an
    error, a log record, a text, or a list of them."""
    secrets = [secret] if isinstance(secret, str) else list(secret)
    texts: List[str] = []
    items = shown if isinstance(shown, (list, tuple)) else [shown]
    for item in items:
        if isinstance(item, BaseException):
            texts += error_texts(item)
        elif isinstance(item, logging.LogRecord):
            texts += record_texts(item)
        else:
            texts.append(str(item))
    for one in secrets:
        assert one, "an empty secret proves nothing"
        for piece in windows(one):
            for text in texts:
                assert piece not in text, f"{piece!r} shows in {text[:2000]!r}"
