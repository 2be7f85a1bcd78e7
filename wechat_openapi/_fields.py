"""Reading an answer's values, without the models: what the call path needs before (or
without) building a model, so that importing the Client does not load attrs.
:mod:`wechat_openapi.models` builds on these.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Tuple, TypeVar

from ._redact import SECRET_ANSWERS, redact_query_token, shown, strings_in
from .errors import InvalidResponseError

_Model = TypeVar("_Model")

_MESSAGE_MAX = 300  # characters of a model error's message, once masked
_QUOTE_MAX = 1024  # characters of a value's repr quoted whole; a longer value is described


def parsed(
    build: Callable[[Mapping[str, Any]], _Model],
    data: Mapping[str, Any],
    path: str,
    secrets: Tuple[str, ...] = (),
) -> _Model:
    """``build(data)``; its InvalidResponseError names the endpoint's ``path``, and the value
    it quotes is masked (``secrets`` too, and every string of a token endpoint's answer)
    before the message is cut short."""
    try:
        return build(data)
    except InvalidResponseError as error:
        failure = error
    if path in SECRET_ANSWERS:
        secrets = (*secrets, *strings_in(data))
    message = shown(failure.message, secrets, _MESSAGE_MAX)
    raise InvalidResponseError(message, failure.path or path, failure.status_code)


def _quoted(value: object) -> str:
    """A server's value for a message, masked by shape; ``parsed`` masks it again with the
    call's secrets, and only then cuts the message. Quoted whole or not at all, so that no
    cut here leaves part of a secret for the mask to miss."""
    try:
        text = repr(value)
    except RecursionError:  # nested deeper than repr goes
        text = ""
    if text and len(text) <= _QUOTE_MAX:
        return redact_query_token(text)
    size = f" of {len(value)}" if isinstance(value, (str, list, dict)) else ""
    unit = " characters" if isinstance(value, str) else " items" if size else ""
    return f"(a {type(value).__name__}{size}{unit}, not shown)"


def as_int(value: object) -> Optional[int]:
    """``value`` as an int, accepting integral floats and numeric strings (WeChat sends
    both); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:  # not digits, or too many of them
            return None
    return None
