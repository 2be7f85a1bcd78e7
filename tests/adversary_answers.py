"""What the adversary answers: a body per endpoint, its mutations, and the framing on the wire.

Every answer is drawn from a ``random.Random`` the server seeds per request (by the seed and
the request's number), so a campaign with one thread replays the same answers in order. An
:class:`Answer` says what the server sends and what the checker may conclude from it: whether
it is a valid answer in faithful framing (the call must then succeed), the status sent (no
model may come from anything but 200), the model values a valid answer must give, and the
fragments of secrets the server itself cut short when it echoed them (a leak of such a
fragment is the server's, not the client's).

Markers: every valid answer carries the request's number in a field the model keeps
(``open_appid="wxM17"``, ``nickname="M17"``, ``client_ip="M17"``, ``daily_limit=100017``), so
the checker can tell which request's answer a call returned.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import zlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import attr

RID_GET = "/cgi-bin/openapi/rid/get"
OPEN_GET = "/cgi-bin/open/get"
QUERY_NICKNAME = "/wxa/api_wxa_querynickname"
QUOTA_GET = "/cgi-bin/openapi/quota/get"
CLEAR_QUOTA = "/cgi-bin/clear_quota"
CLEAR_QUOTA_V2 = "/cgi-bin/clear_quota/v2"
STABLE_TOKEN = "/cgi-bin/stable_token"
COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
REDIRECTED = "/__redirected__"  # where redirects point: a request here means one was followed

TOKEN_FIELDS = {
    STABLE_TOKEN: "access_token",
    COMPONENT_TOKEN: "component_access_token",
    AUTHORIZER_TOKEN: "authorizer_access_token",
}
# The query and body fields that carry a secret (tokens, AppSecrets, tickets).
SECRET_NAMES = (
    "access_token",
    "component_access_token",
    "appsecret",
    "secret",
    "component_appsecret",
    "component_verify_ticket",
    "authorizer_refresh_token",
)
MARKER_BASE = 100_000  # daily_limit of a valid quota answer: this plus the request's number

TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"


def random_secret(rng: random.Random, length: int, prefix: str = "") -> str:
    """A token-like secret (WeChat's alphabet) of ``length`` characters in all."""
    return prefix + "".join(rng.choice(TOKEN_ALPHABET) for _ in range(length - len(prefix)))


@attr.s(auto_attribs=True)
class Request:
    """One request as the server parsed it."""

    number: int
    method: str
    path: str
    query: Dict[str, str]
    raw_query: str
    body: Dict[str, Any]
    raw_body: bytes

    def secrets(self) -> List[str]:
        """The secrets this request carries (what a server might echo back)."""
        found = [self.query[name] for name in SECRET_NAMES if name in self.query]
        found += [self.body[name] for name in SECRET_NAMES if isinstance(self.body.get(name), str)]
        return found


@attr.s(auto_attribs=True)
class Answer:
    """What to send for one request, and what it lets the checker conclude."""

    kind: str
    segments: List[Tuple[float, bytes]]  # (seconds to wait first, bytes to send)
    close: bool = False  # close the connection after sending
    stall: float = 0.0  # seconds to hold the connection silent after sending, then close
    faithful: bool = False  # a valid answer in faithful framing: the call must succeed
    status: Optional[int] = 200  # the final status sent; None when there was no status line
    errcode: Optional[int] = None  # a faithful errcode answer: the call must raise its class
    expected: Dict[str, Any] = attr.Factory(dict)  # model values of a valid answer
    issued: List[str] = attr.Factory(list)  # token-like strings this answer hands out
    truncated: List[str] = attr.Factory(list)  # fragments of secrets echoed cut short
    extra: Optional[Tuple[bool, bytes]] = None  # (late, bytes) sent after this answer


@attr.s(auto_attribs=True)
class Timing:
    """The client's bounds, so that trickles stay within a read and stalls outlast them."""

    read_timeout: float
    deadline: float


# Bodies ---------------------------------------------------------------------------------


def valid_body(
    request: Request, rng: random.Random
) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
    """A valid answer for ``request``: the JSON object, the model values it must give, and
    the token-like strings it issues."""
    marker = f"M{request.number}"
    path = request.path
    ok: Dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    if path == RID_GET:
        record = {
            "invoke_time": 1_700_000_000 + request.number,
            "cost_in_ms": request.number % 1000,
            "request_url": "/cgi-bin/message/custom/send?lang=zh_CN",
            "request_body": '{"touser": "o1"}',
            "response_body": '{"errcode": 45009}',
            "client_ip": marker,
        }
        return (
            {**ok, "request": record},
            {"client_ip": marker, "cost_in_ms": record["cost_in_ms"]},
            [],
        )
    if path == OPEN_GET:
        return {**ok, "open_appid": "wx" + marker}, {"open_appid": "wx" + marker}, []
    if path == QUERY_NICKNAME:
        answer = {
            **ok,
            "nickname": marker,
            "audit_stat": rng.choice((1, 2, 3, 9)),
            "fail_reason": "",
            "create_time": 1_700_000_000,
            "audit_time": rng.choice((0, 1_700_000_100)),
        }
        return answer, {"nickname": marker, "audit_stat": answer["audit_stat"]}, []
    if path == QUOTA_GET:
        limit = MARKER_BASE + request.number
        answer = {**ok, "quota": {"daily_limit": limit, "used": 1, "remain": limit - 1}}
        if rng.random() < 0.5:
            answer["rate_limit"] = {"call_count": 100, "refresh_second": 60}
        return answer, {"daily_limit": limit, "used": 1, "remain": limit - 1}, []
    if path in TOKEN_FIELDS:
        token = random_secret(rng, rng.choice((96, 127, 136, 157, 180)))
        answer = {TOKEN_FIELDS[path]: token, "expires_in": 7200}
        issued = [token]
        if path == AUTHORIZER_TOKEN and rng.random() < 0.5:
            refresh = random_secret(rng, 57, "refreshtoken@@@")
            answer["authorizer_refresh_token"] = refresh
            issued.append(refresh)
        if rng.random() < 0.2:
            answer.update(ok)
        return answer, {}, issued
    return ok, {}, []


def _fields(value: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    """Every key path in a decoded answer (dicts only), for picking one to mutate."""
    paths: List[Tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append((*prefix, key))
            paths.extend(_fields(item, (*prefix, key)))
    return paths


def _set(data: Dict[str, Any], path: Tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _drop(data: Dict[str, Any], path: Tuple[Any, ...]) -> None:
    for key in path[:-1]:
        data = data[key]
    del data[path[-1]]


_DEEP = "__DEEP__"  # replaced, after encoding, by a value nested thousands deep


def echo(secret: str, rng: random.Random, truncated: List[str]) -> str:
    """``secret`` as the server quotes it: whole, or cut short (and then noted)."""
    if len(secret) > 17 and rng.random() < 0.3:
        cut = secret[: rng.randrange(16, len(secret) - 1)]
        truncated.append(cut)
        return cut
    return secret


_WRONG_TYPES: Tuple[Any, ...] = (
    None,
    True,
    False,
    1.5,
    "text",
    "",
    [],
    {},
    [1],
    "1e3",
    -1,
    0,
    "7200",
)


def mutated_body(request: Request, rng: random.Random) -> Tuple[bytes, str, List[str], List[str]]:
    """A 200 body that is not a valid answer: the bytes, what was done, issued strings and
    the fragments of secrets echoed cut short."""
    data, _, issued = valid_body(request, rng)
    truncated: List[str] = []
    secrets = request.secrets() + issued
    fields = _fields(data)
    field = rng.choice(fields) if fields else ("errcode",)
    what = rng.choice(
        (
            "drop",
            "wrong type",
            "huge int",
            "huge negative",
            "float overflow",
            "too many digits",
            "deep",
            "very deep",
            "echo secret",
            "echo secret in list",
            "echo padded",
            "errcode",
            "not an object",
            "not json",
            "bad utf-8",
            "empty",
            "html echo",
            "bom",
            "nan",
            "errmsg echo",
            "query echo",
            "body echo",
        )
    )

    def quote() -> str:  # a secret as echoed (drawn only when used: a cut one is noted)
        return echo(rng.choice(secrets), rng, truncated) if secrets else "no-secret"

    raw: Optional[bytes] = None
    if what == "drop":
        _drop(data, field)
    elif what == "wrong type":
        _set(data, field, rng.choice(_WRONG_TYPES))
    elif what == "huge int":
        _set(data, field, 10**400)
    elif what == "huge negative":
        _set(data, field, -(10**400))
    elif what == "float overflow":
        _set(data, field, _DEEP)
        raw = json.dumps(data).replace(json.dumps(_DEEP), "1e400").encode()
    elif what == "too many digits":
        _set(data, field, _DEEP)
        raw = json.dumps(data).replace(json.dumps(_DEEP), "9" * 5000).encode()
    elif what in ("deep", "very deep"):
        depth = 5_000 if what == "deep" else 200_000
        _set(data, field, _DEEP)
        nested = "[" * depth + json.dumps(quote()) + "]" * depth
        raw = json.dumps(data).replace(json.dumps(_DEEP), nested).encode()
    elif what == "echo secret":
        _set(data, field, quote())
    elif what == "echo secret in list":
        _set(data, field, [quote()])
    elif what == "echo padded":
        _set(data, field, "x" * rng.randrange(0, 5000) + quote() + "y" * rng.randrange(0, 300))
    elif what == "errcode":
        choice = rng.randrange(7)
        options: Tuple[Any, ...] = ("0", 0.0, "1e400", None, [])
        data["errcode"] = (
            options[choice] if choice < 5 else ("abc" + quote(), {"c": quote()})[choice - 5]
        )
    elif what == "not an object":
        shape = rng.choice(("list", "quoted in a list", "quoted", "number", "null", "huge"))
        value: Any = {"list": [], "number": 1, "null": None, "huge": 10**400}.get(shape)
        if shape.startswith("quoted"):
            value = [quote()] if shape == "quoted in a list" else quote()
        raw = json.dumps(value).encode()
    elif what == "not json":
        raw = ("{" + "x" * rng.randrange(0, 300) + quote()).encode()
    elif what == "bad utf-8":
        raw = b'{"errcode": 0, "open_appid": "\xff\xfe' + quote().encode() + b'"}'
    elif what == "empty":
        raw = rng.choice((b"", b" ", b"\r\n"))
    elif what == "html echo":
        raw = b"<html><body>" + b"p" * rng.randrange(0, 400) + quote().encode() + b"</body></html>"
    elif what == "bom":
        raw = b"\xef\xbb\xbf" + json.dumps(data).encode()
    elif what == "nan":
        _set(data, field, _DEEP)
        raw = json.dumps(data).replace(json.dumps(_DEEP), rng.choice(("NaN", "Infinity"))).encode()
    elif what == "errmsg echo":
        # Only the request's own secrets: a failed answer issues nothing, so a token-like
        # string in it is no secret the client could know of.
        quoted = echo(rng.choice(request.secrets()), rng, truncated) if request.secrets() else ""
        data = {"errcode": rng.choice((40001, 40013, 40125, 61004, -1))}
        data["errmsg"] = f"invalid credential, access_token is {quoted}, rid: 6a-{request.number}"
    elif what == "query echo":
        data["errmsg"] = request.raw_query
        data["errcode"] = rng.choice((0, 40001, 48001))
    elif what == "body echo":
        data["errmsg"] = request.raw_body.decode("utf-8", "replace")
        data["errcode"] = rng.choice((0, 41001, 40164))
    body = raw if raw is not None else json.dumps(data).encode()
    if request.path in TOKEN_FIELDS:  # whatever string a token answer holds may be taken as one
        # Strings that merely wrap a known secret ("xxx<secret>yyy") add nothing but their
        # padding, which no client needs to hide: the secret inside is checked already.
        known = secrets + truncated
        values = {key: value for key, value in data.items() if key != "errmsg"}
        issued += [
            text
            for text in _strings(values)
            if len(text) >= 16 and text not in issued and not any(k in text for k in known)
        ]
    return body, f"mutated/{what}", issued, truncated


def _strings(value: Any) -> List[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


# Framing --------------------------------------------------------------------------------

FAITHFUL_FRAMINGS = (
    "length",
    "chunked",
    "close",
    "http/1.0",
    "http/1.0 length",
    "http/1.0 keep-alive",
    "100 first",
    "103 first",
)


def head(version: str, status: int, reason: str, headers: List[Tuple[str, str]]) -> bytes:
    lines = [f"{version} {status} {reason}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def chunks(body: bytes, rng: random.Random, extension: bool = False) -> bytes:
    """``body`` in chunked encoding, cut at random places."""
    out = b""
    rest = body
    while rest:
        size = rng.randint(1, max(1, len(rest)))
        ext = b";name=value" if extension and rng.random() < 0.3 else b""
        out += b"%x%s\r\n%s\r\n" % (size, ext, rest[:size])
        rest = rest[size:]
    return out + b"0\r\n\r\n"


def framed(
    framing: str, status: int, reason: str, body: bytes, rng: random.Random, extra_headers: Any = ()
) -> Tuple[bytes, bool]:
    """A whole response in a faithful ``framing``: its bytes and whether to close after."""
    headers = [
        (
            "Content-Type",
            rng.choice(("application/json", "text/plain", "application/json; charset=utf-8")),
        )
    ]
    headers += list(extra_headers)
    length = [("Content-Length", str(len(body)))]
    if framing == "length":
        return head("HTTP/1.1", status, reason, headers + length) + body, False
    if framing == "chunked":
        chunked = [("Transfer-Encoding", "chunked")]
        return head("HTTP/1.1", status, reason, headers + chunked) + chunks(body, rng, True), False
    if framing == "close":
        return head("HTTP/1.1", status, reason, [*headers, ("Connection", "close")]) + body, True
    if framing == "http/1.0":
        return head("HTTP/1.0", status, reason, headers) + body, True
    if framing == "http/1.0 length":
        return head("HTTP/1.0", status, reason, headers + length) + body, True
    if framing == "http/1.0 keep-alive":
        keep = [("Connection", "keep-alive")]
        return head("HTTP/1.0", status, reason, headers + length + keep) + body, False
    informational = 100 if framing == "100 first" else 103
    first = head(
        "HTTP/1.1", informational, "Continue" if informational == 100 else "Early Hints", []
    )
    if informational == 103:
        first = head("HTTP/1.1", 103, "Early Hints", [("Link", "</a.css>; rel=preload")])
    return first * rng.randint(1, 3) + head(
        "HTTP/1.1", status, reason, headers + length
    ) + body, False


def trickled(data: bytes, rng: random.Random, timing: Timing) -> List[Tuple[float, bytes]]:
    """``data`` in pieces, each sent within the read timeout (the whole may pass the deadline)."""
    pieces = rng.randint(2, 12)
    cuts = sorted(rng.sample(range(1, max(2, len(data))), min(pieces, max(1, len(data) - 1))))
    segments: List[Tuple[float, bytes]] = []
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            segments.append((rng.uniform(0.01, timing.read_timeout * 0.6), data[start:cut]))
            start = cut
    return segments


# Choosing an answer ----------------------------------------------------------------------

_ERRCODES = (
    -1,
    40001,
    40013,
    40014,
    42001,
    45009,
    48001,
    61004,
    61023,
    61024,
    76001,
    76003,
    89503,
    40164,
    99999,
)
_NOT_200 = (201, 202, 203, 204, 205, 206, 304, 400, 401, 403, 404, 429, 500, 502, 503, 504)
# Content-Length values: five made of non-ASCII digits (str.isdigit() is true of each; http.client
# reads a head as Latin-1, so the superscripts arrive as digits, the Arabic-Indic and fullwidth
# ones as their UTF-8 bytes), then malformed ASCII ones.
_BAD_LENGTHS = (
    "\u00b2",
    "\u00b3",
    "\u00b9\u00b2",
    "\u0661\u0662",
    "\uff11\uff12",
    "-1",
    "+5",
    "0x10",
    "1e3",
    "12, 13",
    "99999999999999999999999",
)
# Status lines nobody should send, and the status http.client reads from each (None: refused;
# it takes "ICY" for HTTP/1.0 and a missing reason for an empty one).
_BAD_STATUS_LINES: Tuple[Tuple[str, Optional[int]], ...] = (
    ("HTTP/1.1 2OO OK", None),
    ("HTTP/1.1 200", 200),
    ("HTTP/9.9 200 OK", None),
    ("ICY 200 OK", 200),
    ("HTTP/1.1 99999 Big", None),
    ("HTTP/1.1 -200 OK", None),
    ("HTTP/1.1 101 Switching Protocols", 101),
    ("FOO", None),
)


def choose(request: Request, rng: random.Random, timing: Timing) -> Answer:
    """Draw the answer to ``request``; see the module's doc."""
    families: List[Tuple[int, Callable[[Request, random.Random, Timing], Answer]]] = [
        (30, _valid),
        (8, _errcode),
        (20, _mutated),
        (12, _bad_framing),
        (8, _not_200),
        (3, _redirect),
        (6, _echo_in_head),
        (3, _encoded),
        (2, _huge),
        (3, _trickle),
        (1, _stall),
        (2, _no_answer),
        (3, _extra),
    ]
    pick = rng.uniform(0, sum(weight for weight, _ in families))
    for weight, family in families:
        pick -= weight
        if pick <= 0:
            return family(request, rng, timing)
    return _valid(request, rng, timing)


def _valid(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, expected, issued = valid_body(request, rng)
    if rng.random() < 0.1:
        data["unknown_field"] = {"nested": [1, 2, 3]}
    framing = rng.choice(FAITHFUL_FRAMINGS)
    wire, close = framed(framing, 200, "OK", json.dumps(data).encode(), rng)
    return Answer(
        f"valid/{framing}", [(0.0, wire)], close, faithful=True, expected=expected, issued=issued
    )


def _errcode(request: Request, rng: random.Random, timing: Timing) -> Answer:
    code = rng.choice(_ERRCODES)
    body = json.dumps({"errcode": code, "errmsg": f"some error rid: 6a-{request.number}"})
    framing = rng.choice(FAITHFUL_FRAMINGS)
    wire, close = framed(framing, 200, "OK", body.encode(), rng)
    return Answer(f"errcode/{framing}", [(0.0, wire)], close, faithful=True, errcode=code)


def _mutated(request: Request, rng: random.Random, timing: Timing) -> Answer:
    body, kind, issued, truncated = mutated_body(request, rng)
    wire, close = framed(rng.choice(FAITHFUL_FRAMINGS), 200, "OK", body, rng)
    return Answer(kind, [(0.0, wire)], close, issued=issued, truncated=truncated)


def _bad_framing(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _expected, issued = valid_body(request, rng)
    body = json.dumps(data).encode()
    json_type = [("Content-Type", "application/json")]
    what = rng.choice(
        (
            "length too long",
            "length too short",
            "length not ascii",
            "length malformed",
            "two lengths",
            "chunk size bad",
            "chunk cut",
            "no last chunk",
            "chunk size huge",
            "chunked and length",
            "http/0.9",
            "bad status line",
        )
    )
    status: Optional[int] = 200
    close = True
    if what == "length too long":
        length = [("Content-Length", str(len(body) + rng.randint(1, 50)))]
        wire = head("HTTP/1.1", 200, "OK", json_type + length) + body
    elif what == "length too short":
        length = [("Content-Length", str(rng.randint(1, len(body) - 1)))]
        wire = head("HTTP/1.1", 200, "OK", json_type + length) + body
        close = False  # the rest stays on the connection
    elif what == "length not ascii":
        wire = head("HTTP/1.1", 200, "OK", json_type) + body
        value = rng.choice(_BAD_LENGTHS[:5])
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            encoded = value.encode("utf-8")
        wire = wire.replace(b"\r\n\r\n", b"\r\nContent-Length: " + encoded + b"\r\n\r\n", 1)
    elif what == "length malformed":
        length = [("Content-Length", rng.choice(_BAD_LENGTHS[5:]))]
        wire = head("HTTP/1.1", 200, "OK", json_type + length) + body
    elif what == "two lengths":
        lengths = [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 3))]
        wire = head("HTTP/1.1", 200, "OK", json_type + lengths) + body
    elif what.startswith("chunk") or what == "no last chunk":
        chunked = [*json_type, ("Transfer-Encoding", "chunked")]
        if what == "chunk size bad":
            payload = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
        elif what == "chunk cut":
            payload = b"%x\r\n" % (len(body) + 40) + body
        elif what == "chunk size huge":
            payload = b"ffffffffffffffffffff\r\n" + body
        elif what == "chunked and length":
            chunked.append(("Content-Length", str(len(body))))
            payload = chunks(body, rng)
            close = False
        else:
            payload = b"%x\r\n" % len(body) + body + b"\r\n"
        wire = head("HTTP/1.1", 200, "OK", chunked) + payload
    elif what == "http/0.9":
        wire, status = body, None
    else:
        line, status = rng.choice(_BAD_STATUS_LINES)
        wire = line.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    return Answer(f"framing/{what}", [(0.0, wire)], close, status=status, issued=issued)


def _not_200(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _, issued = valid_body(request, rng)
    status = rng.choice(_NOT_200)
    framing = rng.choice(("length", "chunked", "close", "http/1.0"))
    wire, close = framed(framing, status, "Whatever", json.dumps(data).encode(), rng)
    if status in (204, 304):
        close = True  # no body belongs to these; what was sent is left unread: close
    return Answer(f"status/{status}", [(0.0, wire)], close, status=status, issued=issued)


def _redirect(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _, issued = valid_body(request, rng)
    status = rng.choice((301, 302, 303, 307, 308))
    host = rng.choice(("", "http://localhost:{port}", "http://other.invalid"))
    location = f"{host}{REDIRECTED}/{request.number}?{request.raw_query}"
    wire, close = framed(
        "length", status, "Moved", json.dumps(data).encode(), rng, [("Location", location)]
    )
    return Answer(f"redirect/{status}", [(0.0, wire)], close, status=status, issued=issued)


def _echo_in_head(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _expected, issued = valid_body(request, rng)
    body = json.dumps(data).encode()
    truncated: List[str] = []
    secrets = request.secrets() or ["no-secret"]
    where = rng.choice(
        (
            "line without colon",
            "header value",
            "reason",
            "query line",
            "query reason",
            "content type",
        )
    )
    secret = (
        request.raw_query
        if where.startswith("query")
        else echo(rng.choice(secrets), rng, truncated)
    )
    status, reason = 200, "OK"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if where == "header value":
        headers.insert(1, ("X-Echo", secret))
    elif where in ("reason", "query reason"):
        status = rng.choice((200, 400, 502))
        reason = secret
    elif where == "content type":
        headers[0] = ("Content-Type", f"application/json; v={secret}")
    wire = head("HTTP/1.1", status, reason, headers)
    if where in ("line without colon", "query line"):
        wire = wire.replace(b"\r\nContent-Length", f"\r\n{secret}\r\nContent-Length".encode(), 1)
    return Answer(
        f"echo/{where}", [(0.0, wire + body)], status=status, issued=issued, truncated=truncated
    )


def _encoded(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _, issued = valid_body(request, rng)
    body = json.dumps(data).encode()
    what = rng.choice(("gzip", "deflate", "gzip bomb", "deflate bomb", "corrupt", "unknown"))
    encoding = what.split()[0]
    if what == "gzip":
        payload = gzip.compress(body)
    elif what == "deflate":
        payload = zlib.compress(body)
    elif what == "gzip bomb":
        payload = gzip.compress(b"0" * 20_000_000, compresslevel=9)
    elif what == "deflate bomb":
        payload = zlib.compress(b" " * 20_000_000, 9)
    elif what == "corrupt":
        encoding, payload = "gzip", b"\x1f\x8b" + body
    else:
        secrets = request.secrets() or ["x"]
        encoding, payload = f"br-{rng.choice(secrets)}", body
    framing = rng.choice(("length", "chunked", "close"))
    wire, close = framed(framing, 200, "OK", payload, rng, [("Content-Encoding", encoding)])
    return Answer(f"encoding/{what}", [(0.0, wire)], close, issued=issued)


def _huge(request: Request, rng: random.Random, timing: Timing) -> Answer:
    size = rng.choice((300_000, 2_000_000))
    body = b'{"errcode": 0, "pad": "' + b"a" * size + b'"}'
    framing = rng.choice(("length", "chunked", "close", "declared only"))
    if framing == "declared only":
        wire = head("HTTP/1.1", 200, "OK", [("Content-Length", str(10**12))]) + b"{"
        return Answer("huge/declared", [(0.0, wire)], True)
    wire, close = framed(framing, 200, "OK", body, rng)
    return Answer(f"huge/{framing}", [(0.0, wire)], close)


def _trickle(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _, issued = valid_body(request, rng)
    wire, close = framed(
        rng.choice(("length", "chunked", "close")), 200, "OK", json.dumps(data).encode(), rng
    )
    return Answer("trickle", trickled(wire, rng, timing), close, issued=issued)


def _stall(request: Request, rng: random.Random, timing: Timing) -> Answer:
    data, _, issued = valid_body(request, rng)
    wire, _ = framed("length", 200, "OK", json.dumps(data).encode(), rng)
    where = rng.choice(("before the head", "in the head", "in the body"))
    cut = {"before the head": 0, "in the head": 20, "in the body": len(wire) - 5}[where]
    stall = timing.deadline + 0.5
    return Answer(f"stall/{where}", [(0.0, wire[:cut])], True, stall=stall, issued=issued)


def _no_answer(request: Request, rng: random.Random, timing: Timing) -> Answer:
    return Answer("no answer/close", [], True, status=None)


def _extra(request: Request, rng: random.Random, timing: Timing) -> Answer:
    """A valid answer, then a second one nobody asked for, on a connection kept alive.

    Not faithful: a client that sees more behind an answer cannot tell whether the answer it
    read was its own, and may refuse it; it must only never return another request's."""
    data, expected, issued = valid_body(request, rng)
    wire, _ = framed("length", 200, "OK", json.dumps(data).encode(), rng)
    late = rng.random() < 0.3
    answer = Answer(
        "extra/late" if late else "extra/at once",
        [(0.0, wire)],
        expected=expected,
        issued=issued,
    )
    answer.extra = (late, b"")  # the server fills in the smuggled answer with its own number
    return answer
