"""No secret of a call shows in any error or log record, over real sockets.

A raw server on 127.0.0.1 answers exact bytes: header lines that quote the request's secrets
(urllib3 then logs "Failed to parse headers" with a traceback), answers that echo them in
fields, previews and status lines, and token answers that are cut, nested or not HTTP at
all. Every log record at DEBUG is captured on the root logger, and every error is checked
whole (str, repr, args, chain, traceback, pickle) for the secret and any 16-character
window of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import string
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

import pytest

import wechat_openapi as wo
from tests.platform_support import Store
from tests.secrets_support import assert_no_secret

# Every test here runs on every way of sending (see conftest.either_send_path), but those about
# urllib3's own log records: on the direct route urllib3 reads no answer, and logs none.
pytestmark = pytest.mark.usefixtures("either_send_path")
through_urllib3 = pytest.mark.parametrize(
    "either_send_path", ["urlopen", "adapter.send"], indirect=True
)

_TOKEN_CHARS = string.ascii_letters + string.digits + "_-"


def token(prefix: str, length: int) -> str:
    """A random token of exactly ``length`` characters of WeChat's token alphabet."""
    rest = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(length - len(prefix)))
    return prefix + rest


ACCESS_TOKEN = token("ACC", 127)  # the 127-character token of the issue's field-error case
APPID = "wx" + secrets.token_hex(8)
APPSECRET = secrets.token_hex(16)
ISSUED = token("ISS", 136)
COMPONENT_APPID = "wx" + secrets.token_hex(8)
COMPONENT_SECRET = secrets.token_hex(16)
TICKET = "ticket@@@" + token("", 86)
COMPONENT_TOKEN = token("CMP", 150)
REFRESH_TOKEN = "refreshtoken@@@" + token("", 44)
AUTHORIZER_TOKEN = token("AUT", 150)
AUTHORIZER_APPID = "wxauthorizer"

EVERY_SECRET = (
    ACCESS_TOKEN,
    APPSECRET,
    ISSUED,
    COMPONENT_SECRET,
    TICKET,
    COMPONENT_TOKEN,
    REFRESH_TOKEN,
    AUTHORIZER_TOKEN,
)

STABLE_TOKEN = "/cgi-bin/stable_token"
COMPONENT_TOKEN_PATH = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN_PATH = "/cgi-bin/component/api_authorizer_token"
OPEN_GET = "/cgi-bin/open/get"

OPEN_ACCOUNT = {"errcode": 0, "errmsg": "ok", "open_appid": "wxopen"}
GOOD = {
    STABLE_TOKEN: {"access_token": ISSUED, "expires_in": 7200},
    COMPONENT_TOKEN_PATH: {"component_access_token": COMPONENT_TOKEN, "expires_in": 7200},
    AUTHORIZER_TOKEN_PATH: {
        "authorizer_access_token": AUTHORIZER_TOKEN,
        "expires_in": 7200,
        "authorizer_refresh_token": REFRESH_TOKEN,
    },
    OPEN_GET: OPEN_ACCOUNT,
}

Request = Tuple[str, Dict[str, str], Dict[str, Any]]  # path, query, JSON body
Answer = Callable[[Request], bytes]


def http(
    body: bytes,
    *,
    status: bytes = b"200 OK",
    head: bytes = b"",
    length: Optional[int] = None,
) -> bytes:
    """An HTTP/1.1 answer: ``head`` holds extra header lines (each ending in CRLF), placed
    after Content-Length so that the answer stays framed. A ``length`` other than the body's
    closes the connection after it (the rest of the body would be read as the next answer)."""
    declared = len(body) if length is None else length
    close = b"Connection: close\r\n" if declared != len(body) else b""
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: application/json\r\n"
        + close
        + b"Content-Length: %d\r\n" % declared
        + head
        + b"\r\n"
        + body
    )


def json_answer(payload: Any) -> bytes:
    return http(json.dumps(payload).encode())


class RawServer:
    """Answers each request with ``answer(request)``'s bytes, on the connection it came on;
    it closes the connection after an answer that says ``Connection: close`` or is not
    HTTP/1.1 (the client then reads to the end)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: List[Request] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            with contextlib.suppress(OSError):  # the client gave up, as it may
                self._answer_all(connection)

    def _answer_all(self, connection: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return  # the client closed the connection
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(data) < length:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            body, data = data[:length], data[length:]
            target = urlsplit(lines[0].split(" ")[1])
            request = (target.path, dict(parse_qsl(target.query)), json.loads(body or b"{}"))
            self.requests.append(request)
            answer = self.answer(request)
            connection.sendall(answer)
            if b"Connection: close" in answer or not answer.startswith(b"HTTP/1.1"):
                connection.shutdown(socket.SHUT_WR)
                while connection.recv(65536):  # until the client closes: no reset
                    pass
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], RawServer]]:
    made: List[RawServer] = []

    def start(answer: Answer) -> RawServer:
        server = RawServer(answer)
        made.append(server)
        return server

    yield start
    for server in made:
        server.close()


class Records(logging.Handler):
    """Every record that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[List[logging.LogRecord]]:
    """The records logged during the test, at DEBUG and up, from every logger."""
    handler = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.records
    root.removeHandler(handler)
    root.setLevel(level)


def sent(request: Request) -> List[str]:
    """What the request carried that a server may quote back: the token in its query and
    every string in its body."""
    _, query, body = request
    found = [value for name, value in query.items() if name.endswith("access_token")]
    return found + [value for value in body.values() if isinstance(value, str)]


# Clients, each as a user builds it ---------------------------------------------------------


def plain_call(url: str) -> Any:
    with wo.Client(access_token=ACCESS_TOKEN, base_url=url, max_retries=0) as client:
        return client.get_open_account()


def stable_call(url: str) -> Any:
    options = {"base_url": url, "max_retries": 0}
    with wo.Client.from_stable_token(APPID, APPSECRET, **options) as client:
        return client.get_open_account()


def platform_call(url: str, secret: str = COMPONENT_SECRET) -> Any:
    store = Store({AUTHORIZER_APPID: REFRESH_TOKEN})
    with wo.ComponentPlatform(
        COMPONENT_APPID, secret, refresh_tokens=store, base_url=url, max_retries=0
    ) as platform:
        platform.set_verify_ticket(TICKET)
        return platform.client(AUTHORIZER_APPID).get_open_account()


CALLS = {"plain": plain_call, "stable_token": stable_call, "platform": platform_call}


# Log records -------------------------------------------------------------------------------


def quoting_in_a_header(request: Request) -> bytes:
    """A good answer with a header line that has no colon and quotes what was sent."""
    quoted = " ".join(sent(request)).encode()
    return http(json.dumps(GOOD[request[0]]).encode(), head=quoted + b"\r\n")


@pytest.mark.parametrize("kind", sorted(CALLS))
@through_urllib3
def test_a_header_line_quoting_the_request_shows_no_secret_in_any_log_record(
    serve: Callable[[Answer], RawServer], records: List[logging.LogRecord], kind: str
) -> None:
    server = serve(quoting_in_a_header)

    assert CALLS[kind](server.url).open_appid == "wxopen"

    warnings = [r for r in records if r.name.startswith("urllib3") and r.levelno >= 30]
    assert warnings, "urllib3 logged no header-parsing failure: the test proves nothing"
    quoted = {secret for request in server.requests for secret in sent(request)}
    assert quoted & set(EVERY_SECRET)
    assert_no_secret(EVERY_SECRET, records)
    assert any("***" in record.getMessage() for record in warnings)


@through_urllib3
def test_a_record_keeps_its_traceback_as_masked_text(
    serve: Callable[[Answer], RawServer], records: List[logging.LogRecord]
) -> None:
    server = serve(quoting_in_a_header)
    plain_call(server.url)
    failed = [r for r in records if "Failed to parse headers" in r.getMessage()]
    assert failed
    for record in failed:
        assert record.exc_info is None
        assert "Traceback" in str(record.exc_text)
        assert "***" in str(record.exc_text)
        text = logging.Formatter().format(record)
        assert "HeaderParsingError" in text
        assert_no_secret(ACCESS_TOKEN, text)


def test_a_record_logged_after_the_call_is_left_alone(
    serve: Callable[[Answer], RawServer], records: List[logging.LogRecord]
) -> None:
    """Secrets are masked only while their call runs: nothing of them is kept afterwards."""
    server = serve(lambda request: json_answer(OPEN_ACCOUNT))
    plain_call(server.url)
    logging.getLogger("urllib3.connectionpool").warning("after: %s", ACCESS_TOKEN)
    assert records[-1].getMessage() == f"after: {ACCESS_TOKEN}"


# Errors: masked first, cut after -----------------------------------------------------------


def failure(call: Callable[[str], Any], url: str) -> wo.WeChatError:
    with pytest.raises(wo.WeChatError) as caught:
        call(url)
    return caught.value


def answers(bad_path: str, bad: Callable[[Request], bytes]) -> Answer:
    """Good answers, and ``bad(request)`` for ``bad_path``."""

    def answer(request: Request) -> bytes:
        if request[0] == bad_path:
            return bad(request)
        return json_answer(GOOD[request[0]])

    return answer


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(
            lambda request: json_answer({"errcode": 0, "open_appid": [ACCESS_TOKEN] * 40}),
            id="a field of 40 copies, past every cut",
        ),
        pytest.param(lambda request: http(ACCESS_TOKEN.encode() * 40), id="a preview of 40 copies"),
        pytest.param(
            lambda request: http(b"<p>x", status=b"502 " + ACCESS_TOKEN.encode() * 3),
            id="a reason",
        ),
        pytest.param(
            lambda request: json_answer({"errcode": [ACCESS_TOKEN] * 40}),
            id="an errcode",
        ),
        pytest.param(
            lambda request: ACCESS_TOKEN.encode() * 3 + b"\r\n\r\n",
            id="an HTTP/0.9 answer",
        ),
    ],
)
def test_a_token_echoed_in_an_answer_shows_not_even_in_part(
    serve: Callable[[Answer], RawServer],
    records: List[logging.LogRecord],
    bad: Callable[[Request], bytes],
) -> None:
    server = serve(answers(OPEN_GET, bad))
    error = failure(plain_call, server.url)
    assert_no_secret(ACCESS_TOKEN, [error, *records])
    assert "***" in str(error) or "HTTP/0.9" not in str(error)


def test_a_preview_still_shows_the_text_around_a_masked_token(
    serve: Callable[[Answer], RawServer],
) -> None:
    body = b"<p>before " + ACCESS_TOKEN.encode() + b" after</p>"
    server = serve(answers(OPEN_GET, lambda request: http(body)))
    assert "before *** after" in str(failure(plain_call, server.url))


# Token answers: every string in them is a secret -------------------------------------------

TOKEN_ANSWERS = [
    (STABLE_TOKEN, stable_call),
    (COMPONENT_TOKEN_PATH, platform_call),
    (AUTHORIZER_TOKEN_PATH, platform_call),
]


def cut_short(request: Request) -> bytes:
    """A good answer whose Content-Length stops in the middle of the token."""
    body = json.dumps(GOOD[request[0]]).encode()
    return http(body, length=body.index(b'": "') + 60)


def nested_expires_in(request: Request) -> bytes:
    payload = dict(GOOD[request[0]])
    body = json.dumps(payload).encode()
    nested = b"[" * 5000 + b"7200" + b"]" * 5000
    return http(body.replace(b"7200", nested))


def shallow_nested_expires_in(request: Request) -> bytes:
    body = json.dumps(GOOD[request[0]]).encode()
    return http(body.replace(b"7200", b"[" * 200 + b"7200" + b"]" * 200))


def http_0_9(request: Request) -> bytes:
    return json.dumps(GOOD[request[0]]).encode()


def token_in_expires_in(request: Request) -> bytes:
    payload = dict(GOOD[request[0]])
    payload["expires_in"] = [value for value in payload.values() if isinstance(value, str)]
    return json_answer(payload)


def token_in_errcode(request: Request) -> bytes:
    payload: Dict[str, Any] = dict(GOOD[request[0]])
    payload["errcode"] = "x" * 5000 + " ".join(v for v in payload.values() if isinstance(v, str))
    return json_answer(payload)


def token_in_errmsg_of_a_refusal(request: Request) -> bytes:
    payload: Dict[str, Any] = dict(GOOD[request[0]])
    issued = " ".join(v for v in payload.values() if isinstance(v, str))
    payload.update(errcode=40013, errmsg="x" * 5000 + issued)
    return json_answer(payload)


@pytest.mark.parametrize(
    "bad",
    [
        cut_short,
        nested_expires_in,
        shallow_nested_expires_in,
        http_0_9,
        token_in_expires_in,
        token_in_errcode,
        token_in_errmsg_of_a_refusal,
    ],
)
@pytest.mark.parametrize(("path", "call"), TOKEN_ANSWERS, ids=lambda value: str(value)[-15:])
def test_no_error_about_a_token_answer_shows_the_token_it_issued(
    serve: Callable[[Answer], RawServer],
    records: List[logging.LogRecord],
    path: str,
    call: Callable[[str], Any],
    bad: Callable[[Request], bytes],
) -> None:
    server = serve(answers(path, bad))
    error = failure(call, server.url)
    assert isinstance(error, wo.WeChatError)
    assert_no_secret(EVERY_SECRET, [error, *records])


def test_an_errmsg_of_a_token_answer_keeps_its_words(
    serve: Callable[[Answer], RawServer],
) -> None:
    def refused(request: Request) -> bytes:
        return json_answer({"errcode": 40125, "errmsg": "invalid appsecret rid: 1-2-3"})

    error = failure(stable_call, serve(answers(STABLE_TOKEN, refused)).url)
    assert isinstance(error, wo.APIError)
    assert error.errmsg.startswith("invalid appsecret")


# The component secret in a field error -----------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(COMPONENT_SECRET, id="hex"),
        pytest.param("s\\e'c\"r\u00e9t/" + secrets.token_hex(8), id="escaped by repr"),
        pytest.param("s\\e'c\"t", id="short, escaped by repr"),
    ],
)
@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda secret: [secret], id="the secret"),
        pytest.param(lambda secret: [TICKET, secret], id="the ticket and the secret"),
        pytest.param(lambda secret: ["x" * 4090, secret], id="the secret at the cut"),
        pytest.param(lambda secret: [secret] * 300, id="300 copies"),
    ],
)
def test_a_component_token_field_error_shows_no_secret_of_the_call(
    serve: Callable[[Answer], RawServer], secret: str, echo: Callable[[str], List[str]]
) -> None:
    def echoing(request: Request) -> bytes:
        expires_in = echo(request[2]["component_appsecret"])
        return json_answer({"component_access_token": COMPONENT_TOKEN, "expires_in": expires_in})

    server = serve(answers(COMPONENT_TOKEN_PATH, echoing))
    with pytest.raises(wo.InvalidResponseError) as caught:
        platform_call(server.url, secret)
    assert "expires_in" in str(caught.value)
    assert_no_secret([*EVERY_SECRET, secret], caught.value)


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"open_appid": [APPSECRET]}, id="the AppSecret"),
        pytest.param({"open_appid": ["x" * 290 + ISSUED]}, id="the issued token"),
    ],
)
def test_a_later_answer_of_the_same_call_cannot_show_its_earlier_secrets(
    serve: Callable[[Answer], RawServer], field: Dict[str, Any]
) -> None:
    """The AppSecret went out to stable_token in this very call: an API answer that quotes
    it is masked too."""
    server = serve(answers(OPEN_GET, lambda request: json_answer({"errcode": 0, **field})))
    assert_no_secret([APPSECRET, ISSUED], failure(stable_call, server.url))


@through_urllib3
def test_a_record_masks_the_secrets_of_calls_in_flight_in_other_threads(
    serve: Callable[[Answer], RawServer], records: List[logging.LogRecord]
) -> None:
    """A server that mixes up its answers (a keep-alive desync, a cache in between) can quote
    another call's token: every token in flight is masked, whichever thread logs."""
    other = token("OTH", 140)
    arrived, release = threading.Event(), threading.Event()

    def answer(request: Request) -> bytes:
        if request[1]["access_token"] == other:
            arrived.set()
            release.wait(10)  # held in flight until the first call is done
            return json_answer(OPEN_ACCOUNT)
        return http(json.dumps(OPEN_ACCOUNT).encode(), head=other.encode() + b"\r\n")

    server = serve(answer)
    with wo.Client(access_token=other, base_url=server.url, max_retries=0) as client:
        held_call = threading.Thread(target=client.get_open_account)
        held_call.start()
        try:
            assert arrived.wait(10)
            assert plain_call(server.url).open_appid == "wxopen"
        finally:
            release.set()
            held_call.join(10)
    assert any("Failed to parse headers" in record.getMessage() for record in records)
    assert_no_secret(other, records)


def test_a_refresh_token_rotated_earlier_in_the_call_is_masked_in_its_later_errors(
    serve: Callable[[Answer], RawServer],
) -> None:
    rotated = "refreshtoken@@@" + token("NEW", 44)

    def answer(request: Request) -> bytes:
        if request[0] == AUTHORIZER_TOKEN_PATH:
            return json_answer({**GOOD[AUTHORIZER_TOKEN_PATH], "authorizer_refresh_token": rotated})
        if request[0] == OPEN_GET:
            return json_answer({"errcode": 0, "open_appid": [rotated]})
        return json_answer(GOOD[request[0]])

    error = failure(platform_call, serve(answer).url)
    assert "open_appid" in str(error)
    assert_no_secret([rotated, *EVERY_SECRET], error)
