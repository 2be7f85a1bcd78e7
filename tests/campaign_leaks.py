"""Where a campaign looks for secrets, and how it tells a whole leak from a partial one.

A secret may surface anywhere a user or a log shipper will look: an error's str, repr and
args, the ``__cause__``/``__context__`` chain, the formatted traceback, its pickle (Celery and
multiprocessing ship errors that way), and every log record at DEBUG (message, args, the
formatted ``exc_info`` and ``stack_info``). A leak is *whole* when a secret appears entire,
a *window* when only 16 consecutive characters of one do (half a token, left by a cut made
before the mask); a window that lies inside a fragment the server itself echoed cut short is
the server's truncation, counted apart and not held against the client.
"""

from __future__ import annotations

import logging
import pickle
import threading
import traceback
from typing import Dict, Iterable, List, Optional, Set, Tuple

WINDOW = 16  # characters of a secret that count as a leak of it


class ThreadLogs(logging.Handler):
    """A root handler at DEBUG keeping, per thread, the full text of every record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._texts: Dict[int, List[str]] = {}
        self._formatter = logging.Formatter()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, record.levelname]
        try:
            parts.append(record.getMessage())
        except Exception:  # a record whose args do not fit its message: keep both raw
            parts.append(repr(record.msg))
        parts.append(repr(record.args))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.exc_info:
            parts.append(self._formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        text = "\n".join(parts)
        with self._guard:
            self._texts.setdefault(record.thread or 0, []).append(text)

    def take(self) -> List[str]:
        """The texts of the records this thread logged since it last asked."""
        with self._guard:
            return self._texts.pop(threading.get_ident(), [])


class CapturedLogs:
    """``with CapturedLogs() as logs:`` the root logger at DEBUG through ``logs`` alone (the
    handlers it had, pytest's among them, would print or keep thousands of records)."""

    def __init__(self) -> None:
        self.handler = ThreadLogs()
        self._level = logging.WARNING
        self._handlers: List[logging.Handler] = []

    def __enter__(self) -> ThreadLogs:
        root = logging.getLogger()
        self._level, self._handlers = root.level, list(root.handlers)
        root.handlers = [self.handler]
        root.setLevel(logging.DEBUG)
        return self.handler

    def __exit__(self, *exc_info: object) -> None:
        root = logging.getLogger()
        root.handlers = self._handlers
        root.setLevel(self._level)


def error_texts(error: BaseException) -> List[Tuple[str, str]]:
    """(where, text) for every text an error shows: its own and its chain's."""
    texts: List[Tuple[str, str]] = []
    seen: Set[int] = set()
    link: Optional[BaseException] = error
    where = "error"
    pending: List[Tuple[str, BaseException]] = [(where, error)]
    while pending:
        where, link = pending.pop()
        if link is None or id(link) in seen or len(seen) > 50:
            continue
        seen.add(id(link))
        texts.append((f"{where} str", _safe(str, link)))
        texts.append((f"{where} repr", _safe(repr, link)))
        texts.append((f"{where} args", _safe(repr, link.args)))
        texts.append((f"{where} attributes", _safe(repr, vars(link))))
        for name in ("__cause__", "__context__"):
            linked = getattr(link, name)
            if linked is not None:
                pending.append((f"{where}.{name}", linked))
    formatted = traceback.format_exception(type(error), error, error.__traceback__)
    texts.append(("traceback", "".join(formatted)))
    try:
        texts.append(("pickle", pickle.dumps(error).decode("latin-1")))
    except Exception as failure:  # an error that does not pickle is a finding of its own
        texts.append(("pickle failed", f"{type(failure).__name__}"))
    return texts


def _safe(show: object, value: object) -> str:
    try:
        return str(show(value))  # type: ignore[operator]
    except Exception as failure:
        return f"<{type(failure).__name__} while showing>"


class Secrets:
    """The secrets of one call, and the fragments of them the server echoed cut short."""

    def __init__(self, secrets: Iterable[str], truncated: Iterable[str]) -> None:
        self.whole = sorted({secret for secret in secrets if len(secret) >= WINDOW})
        self._windows: Set[str] = set()
        for secret in self.whole:
            for start in range(len(secret) - WINDOW + 1):
                self._windows.add(secret[start : start + WINDOW])
        self._truncated = list(truncated)

    def find(self, text: str) -> Optional[str]:
        """ "whole", "window", "truncated echo", or None for a text showing none of them."""
        if not self.whole:
            return None
        if any(secret in text for secret in self.whole):
            return "whole"
        windows = self._windows
        found = [
            text[start : start + WINDOW]
            for start in range(len(text) - WINDOW + 1)
            if text[start : start + WINDOW] in windows
        ]
        if not found:
            return None
        if all(any(window in cut for cut in self._truncated) for window in found):
            return "truncated echo"
        return "window"
