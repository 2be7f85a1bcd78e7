"""Keeping the access token out of every text the library or its transport produces.

WeChat wants the token in the URL's query string, so any text that quotes a URL (a requests
error message, a urllib3 debug line, the ``request_url`` of a rid record) can carry it.

Masking goes by shape, not by substring: an ``access_token=`` value, a secret of 16 characters
or more wherever it stands, and a shorter one only where it stands as a whole value (not
inside a longer run of token characters). A short test token such as ``"e"`` then leaves
``open`` and a rid alone, while a real token is masked even glued to other text.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable, List, Mapping, Tuple
from urllib.parse import quote

MASK = "***"

# access_token= and component_access_token= values, and clear_quota/v2's appid= and appsecret=.
_TOKEN_IN_QUERY = re.compile(
    r"((?:access_token|appid|appsecret)=)[^&#\s'\"()<>\[\],;]*", re.IGNORECASE
)
# The characters WeChat's tokens, secrets, appids and rids are made of: a secret counts as a
# whole value only where neither neighbour is one of these.
_VALUE_CHAR = "A-Za-z0-9_-"
# A secret this long is never an unrelated word: it is masked wherever it stands.
_ANYWHERE = 16

_STRINGS_MAX = 1000  # strings collected from one answer for masking

# The urllib3 loggers whose records quote the request URL (query string included).
URL_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
)


def redact_query_token(text: str) -> str:
    """Replace the value of every ``access_token=`` in ``text`` with a mask."""
    return _TOKEN_IN_QUERY.sub(r"\g<1>" + MASK, text) if "=" in text else text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Mask each secret (as written and URL-encoded) where it stands as a whole value, and
    every ``access_token=`` value."""
    for secret in secrets:
        # The cheap tests first: most texts hold no secret, and an encoded one needs a "%".
        forms = (secret, quote(secret, safe="")) if "%" in text else (secret,)
        for form in forms:
            if not form or form not in text:
                continue
            if len(form) >= _ANYWHERE:  # a real token: masked even inside a longer run
                text = text.replace(form, MASK)
            else:
                whole = f"(?<![{_VALUE_CHAR}]){re.escape(form)}(?![{_VALUE_CHAR}])"
                text = re.sub(whole, MASK, text)
    return redact_query_token(text)


def strings_in(value: Any) -> Tuple[str, ...]:
    """Every string value in a decoded answer (bounded): the secrets an error about that
    answer must not show, since a token endpoint's every string may be one."""
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
        lowered = message.lower()
        if any(name in lowered for name in ("access_token=", "appid=", "appsecret=")):
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
