"""The fake's control surface: seeding, faults, token states and counts over HTTP, for a fake
that runs in another process (``python -m wechat_openapi.testing serve``).

It answers under ``/_fake/`` on the fake's own port, JSON in and JSON out; no WeChat path
starts with it, and its requests are neither logged nor counted as WeChat's. Every operation
is a public method of :class:`~wechat_openapi.testing.FakeWeChat` first (a test in the same
process calls those); this module only maps JSON onto them. It exists only in the fake, which
listens on 127.0.0.1 alone: it is for development, and it hands out every secret the fake
seeded.
"""

from __future__ import annotations

import collections
import json
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .._settings import _seconds
from ._component import AUTHORIZER_TOKEN, COMPONENT_TOKEN, Component
from ._faults import HTML_TYPE, Fault
from ._state import ERRMSG, STABLE_TOKEN, Account

if TYPE_CHECKING:
    from ._server import FakeWeChat

CONTROL_PREFIX = "/_fake"
# The token endpoints whose fetches are counted, by the name the counts give them.
TOKEN_FETCHES = {
    STABLE_TOKEN: "stable_token",
    COMPONENT_TOKEN: "component_token",
    AUTHORIZER_TOKEN: "authorizer_token",
}
FAULT_KINDS = ("status", "api_error", "cut", "reset", "delay", "trickle")  # fault_from_json's
MAX_AUTHORIZERS = 1000  # a component seeded over HTTP gets at most this many at once

Json = Dict[str, Any]


def is_control(path: str) -> bool:
    """Whether ``path`` is the control surface's (answered by :func:`handle`)."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def json_fields(body: bytes) -> Optional[Json]:
    """The request body's top-level JSON object, or None when it is not one."""
    try:
        fields = json.loads(body or b"{}")
    except ValueError:  # not JSON, or not UTF-8
        return None
    return fields if isinstance(fields, dict) else None


class RequestCounts:
    """Requests by path, and token fetches by kind (stable_token's also by force_refresh),
    counted as they arrive, before a stall or fault acts; exact under many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: Dict[str, int] = collections.Counter()
        self._fetches: Dict[str, int] = collections.Counter()

    def add(self, path: str, fields: Optional[Mapping[str, Any]]) -> None:
        kind = TOKEN_FETCHES.get(path)
        if kind == "stable_token":
            forced = fields is not None and fields.get("force_refresh") is True
            kind += ".force_refresh" if forced else ".normal"
        with self._lock:
            self._paths[path] += 1
            if kind is not None:
                self._fetches[kind] += 1

    def snapshot(self, *, reset: bool = False) -> Json:
        """``{"requests": {path: n}, "token_fetches": {...}}``; with ``reset``, zeroed in the
        same breath, so that no request falls between the reading and the reset."""
        with self._lock:
            paths, fetches = dict(self._paths), dict(self._fetches)
            if reset:
                self._paths.clear()
                self._fetches.clear()
        return {
            "requests": dict(sorted(paths.items())),
            "token_fetches": {
                "stable_token": {
                    "normal": fetches.get("stable_token.normal", 0),
                    "force_refresh": fetches.get("stable_token.force_refresh", 0),
                },
                "component_token": fetches.get("component_token", 0),
                "authorizer_token": fetches.get("authorizer_token", 0),
            },
        }


# What a recipe needs to know ----------------------------------------------------------------


def describe(fake: FakeWeChat) -> Json:
    """Everything seeded that a recipe needs (see :meth:`FakeWeChat.report`)."""
    with fake.state.lock:
        components = list(fake.platforms.components.values())
        own = {id(component.account) for component in components}
        accounts = [
            {
                "appid": account.appid,
                "secret": account.secret,
                "access_token": account.token,
                "open_appid": account.open_appid,
            }
            for account in fake.state.accounts
            if id(account) not in own
        ]
        described = [describe_component(component, fake.now()) for component in components]
    return {
        "url": fake.url,
        "accounts": accounts,
        "components": described,
        "environment": environment(fake.url, accounts, described),
    }


def describe_component(component: Component, now: float) -> Json:
    """A component's keys, its newest live ticket (None if none) and its authorizers."""
    live = [(expires, ticket) for ticket, expires in component.tickets.items() if expires > now]
    return {
        "appid": component.appid,
        "secret": component.secret,
        "push_token": component.push_token,
        "encoding_aes_key": component.encoding_aes_key,
        "ticket": max(live)[1] if live else None,
        "authorizers": [
            {
                "appid": record.account.appid,
                "refresh_token": record.refresh_token,
                "revoked": record.revoked,
            }
            for record in component.authorizations.values()
        ],
    }


def environment(url: str, accounts: List[Json], components: List[Json]) -> Dict[str, str]:
    """The environment variables the README's recipes read, for the first account and the
    first component seeded: the Tokens and cron recipes' ``WECHAT_*``, and the platform
    recipe's settings under the names it gives them."""
    variables = {"WECHAT_OPENAPI_BASE_URL": url}
    if accounts:
        first = accounts[0]
        variables["WECHAT_APPID"] = first["appid"]
        variables["WECHAT_SECRET"] = first["secret"]
        variables["WECHAT_ACCESS_TOKEN"] = first["access_token"]
    if components:
        platform = components[0]
        variables["COMPONENT_APPID"] = platform["appid"]
        variables["COMPONENT_SECRET"] = platform["secret"]
        variables["PUSH_TOKEN"] = platform["push_token"]
        variables["ENCODING_AES_KEY"] = platform["encoding_aes_key"]
    return variables


# JSON onto FakeWeChat's methods ------------------------------------------------------------


class ControlError(Exception):
    """A control request that cannot be done: its HTTP status and what to say."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _bad(message: str) -> ControlError:
    return ControlError(400, message)


def _text(body: Json, name: str, *, required: bool = True) -> Optional[str]:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} must be a non-empty string")
    return value


def _integer(body: Json, name: str, default: Optional[int], low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return value


def _account(fake: FakeWeChat, body: Json) -> Account:
    appid = _text(body, "appid")
    account = fake.state.find_account(appid)
    if account is None:
        raise ControlError(404, f"no account {appid!r}")
    return account


def _authorization(fake: FakeWeChat, body: Json) -> Optional[Tuple[Component, Account]]:
    """The component and account named by ``component_appid`` and ``appid``, or None when
    no component is named (the operation is then the account's own tokens')."""
    appid = _text(body, "component_appid", required=False)
    if appid is None:
        return None
    component = fake.platforms.components.get(appid)
    if component is None:
        raise ControlError(404, f"no component {appid!r}")
    account = _account(fake, body)
    if account.appid not in component.authorizations:
        raise ControlError(404, f"{account.appid!r} never authorized {appid!r}")
    return component, account


def fault_from_json(spec: Json) -> Fault:
    """A :class:`Fault` from its JSON description: ``{"kind": "status", "status": 503}`` (an
    HTML error page with that status), ``{"kind": "api_error", "errcode": -1, "errmsg": ...}``,
    ``{"kind": "cut", "after": 10}`` (bytes of the body), ``{"kind": "reset"}``,
    ``{"kind": "delay", "seconds": 2}`` or ``{"kind": "trickle", "interval": 0.1}``."""
    kind = spec.get("kind")
    if kind == "status":
        status = _integer(spec, "status", None, 400, 599)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        page = f"<html><head><title>{status} {phrase}</title></head><body>{status}</body></html>"
        return Fault.respond(status, page.encode("utf-8"), HTML_TYPE)
    if kind == "api_error":
        errcode = _integer(spec, "errcode", None, -(2**31), 2**31 - 1)
        errmsg = _text(spec, "errmsg", required=False) or ERRMSG.get(errcode, "error")
        return Fault.api_error(errcode, errmsg)
    if kind == "cut":
        return Fault.cut(_integer(spec, "after", 0, 0, 2**31 - 1))
    if kind == "reset":
        return Fault.reset()
    if kind == "delay":
        return Fault.delay(_seconds("seconds", spec.get("seconds")))
    if kind == "trickle":
        return Fault.trickle(_seconds("interval", spec.get("interval")))
    raise _bad(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")


def _seed_component(fake: FakeWeChat, body: Json) -> Json:
    authorizers: Union[int, List[str]]
    given = body.get("authorizers", 2)
    if isinstance(given, list):
        if not all(isinstance(appid, str) and appid for appid in given):
            raise _bad("authorizers must be a count or a list of appids")
        authorizers = given
    else:
        authorizers = _integer(body, "authorizers", 2, 0, MAX_AUTHORIZERS)
    rotate = body.get("rotate_refresh_tokens", False)
    if not isinstance(rotate, bool):
        raise _bad("rotate_refresh_tokens must be true or false")
    component = fake.seed_component(
        _text(body, "appid", required=False),
        authorizers=authorizers,
        secret=_text(body, "secret", required=False),
        push_token=_text(body, "push_token", required=False),
        encoding_aes_key=_text(body, "encoding_aes_key", required=False),
        rotate_refresh_tokens=rotate,
    )
    with fake.state.lock:
        return describe_component(component, fake.now())


def _stall(fake: FakeWeChat, body: Json) -> Json:
    path, where = _text(body, "path"), body.get("where")
    seconds: Any = body.get("seconds")  # stall checks it, and where
    fake.stall(str(path), seconds, where=where)
    return {"path": path, "seconds": seconds, "where": where or {}}


def _fault(fake: FakeWeChat, body: Json) -> Json:
    fault = fault_from_json(body)
    path = _text(body, "path", required=False)
    times = _integer(body, "times", 1, 1, 2**31 - 1)
    fake.inject(fault, times=times, path=path)
    return {"kind": body["kind"], "path": path, "times": times}


def _expire(fake: FakeWeChat, body: Json) -> Json:
    authorization = _authorization(fake, body)
    if authorization is None:
        fake.expire_tokens(_account(fake, body))
    else:
        fake.expire_authorizer_tokens(*authorization)
    return {"ok": True}


def _revoke(fake: FakeWeChat, body: Json) -> Json:
    authorization = _authorization(fake, body)
    if authorization is None:
        fake.revoke_tokens(_account(fake, body))
    else:
        fake.revoke(*authorization)
    return {"ok": True}


def _refuse(fake: FakeWeChat, body: Json) -> Json:
    fake.refuse_token(_account(fake, body))
    return {"ok": True}


Operation = Callable[["FakeWeChat", Json], Json]
READ, WRITE = ("GET", "POST"), ("POST",)
OPERATIONS: Dict[str, Tuple[Tuple[str, ...], Operation]] = {
    "/_fake/report": (READ, lambda fake, body: fake.report()),
    "/_fake/counts": (READ, lambda fake, body: fake.counts()),
    "/_fake/counts/reset": (WRITE, lambda fake, body: fake.reset_counts()),
    "/_fake/component": (WRITE, _seed_component),
    "/_fake/stall": (WRITE, _stall),
    "/_fake/fault": (WRITE, _fault),
    "/_fake/expire": (WRITE, _expire),
    "/_fake/revoke": (WRITE, _revoke),
    "/_fake/refuse": (WRITE, _refuse),
}


def handle(fake: FakeWeChat, method: str, path: str, body: bytes) -> Tuple[int, Json]:
    """The status and JSON answer to one control request: 200 and the operation's answer,
    or ``{"error": ...}`` with 404 (no such path, account or component), 405 (a GET that
    would change something) or 400 (anything else wrong)."""
    operation = OPERATIONS.get(path.rstrip("/"))
    if operation is None:
        known = ", ".join(OPERATIONS)
        return 404, {"error": f"no control path {path!r}; the control paths are {known}"}
    methods, run = operation
    if method not in methods:
        return 405, {"error": f"{path} takes {' or '.join(methods)}"}
    fields = json_fields(body)
    try:
        if fields is None:
            raise _bad("the body must be a JSON object")
        return 200, run(fake, fields)
    except ControlError as error:
        return error.status, {"error": str(error)}
    except (TypeError, ValueError) as error:  # refused by the FakeWeChat method itself
        return 400, {"error": str(error)}
