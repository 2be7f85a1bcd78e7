"""Keeping the access token out of every text the library or its transport produces.

WeChat wants the token in the URL's query string, so any text that quotes a URL (a requests
error message, a urllib3 debug line, the ``request_url`` of a rid record) can carry it.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable
from urllib.parse import quote

MASK = "***"

_TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&#\s'\"]*", re.IGNORECASE)

# The urllib3 loggers whose records quote the request URL (query string included).
URL_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


def redact_query_token(text: str) -> str:
    """Replace the value of every ``access_token=`` in ``text`` with a mask."""
    return _TOKEN_IN_QUERY.sub(r"\g<1>" + MASK, text)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove each secret (as written and as URL-encoded) and any ``access_token=`` value."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    return redact_query_token(text)


class RedactTokenFilter(logging.Filter):
    """A logging filter that masks ``access_token=`` values in a record's final message.

    Filters run only for records that are actually created, so this costs nothing unless
    DEBUG logging of urllib3 is switched on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return True
        if "access_token=" in message.lower():
            record.msg = redact_query_token(message)
            record.args = None
        return True


_FILTER = RedactTokenFilter()


def install_log_redaction(logger_names: Iterable[str] = URL_LOGGERS) -> None:
    """Attach the redacting filter to the loggers that quote URLs (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
