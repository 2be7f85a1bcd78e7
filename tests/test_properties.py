"""Whatever comes back (any bytes, any JSON, any status), a call returns its model or raises a
WeChatError: never a KeyError, a TypeError or anything else."""

from __future__ import annotations

import io
import json
from typing import Any, Callable, List, Mapping, Optional, Tuple, Type

import requests
import urllib3
from hypothesis import event, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

import wechat_openapi as wo


class CannedAdapter(requests.adapters.BaseAdapter):
    """Answers every request with the status, headers and body it was last given."""

    status = 200
    body = b""
    headers: Mapping[str, str] = {}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        response = requests.Response()
        response.status_code = self.status
        response.reason = "Canned"
        response.headers = CaseInsensitiveDict(self.headers)
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(self.body), status=self.status, preload_content=False
        )
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


ADAPTER = CannedAdapter()
SESSION = requests.Session()
SESSION.mount("http://", ADAPTER)
CLIENT = wo.Client(
    access_token="property-token", base_url="http://canned.test", session=SESSION, max_retries=0
)

CALLS: List[Tuple[Callable[[wo.Client], Any], Type[Any]]] = [
    (lambda client: client.get_rid_info("617682e0-09059ac5-34a8e2ea"), wo.RidInfo),
    (lambda client: client.get_open_account(), wo.OpenAccount),
    (lambda client: client.query_nickname_status(12345), wo.NicknameAudit),
]

FIELDS = [
    "errcode", "errmsg", "request", "invoke_time", "cost_in_ms", "request_url", "request_body",
    "response_body", "client_ip", "open_appid", "nickname", "audit_stat", "fail_reason",
    "create_time", "audit_time",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["0", "1", "-1", "1519724071", "", " 3 "])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=20,
)
answers = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=10)
times = st.integers(-(2**40), 2**40) | st.integers(0, 2**32).map(str) | st.just(0)
# Answers close to real ones, each field optional and sometimes of an odd type.
plausible = st.fixed_dictionaries(
    {},
    optional={
        "errcode": st.just(0) | st.just("0") | st.integers(-2, 100_000),
        "errmsg": st.text(max_size=30),
        "invoke_time": times,
        "cost_in_ms": st.integers(0, 10**6) | st.integers(0, 99).map(str),
        "request_url": st.text(max_size=30),
        "request_body": st.text(max_size=30) | st.just('{"a": 1}'),
        "response_body": st.text(max_size=30),
        "client_ip": st.text(max_size=15),
        "open_appid": st.text(max_size=20),
        "nickname": st.text(max_size=20),
        "audit_stat": st.integers(-1, 5) | st.just("2"),
        "fail_reason": st.text(max_size=20),
        "create_time": times,
        "audit_time": times,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    answers.map(lambda value: json.dumps(value).encode()),
    plausible.map(lambda value: json.dumps(value).encode()),
    plausible.map(lambda value: json.dumps({"errcode": 0, "request": value}).encode()),
)
encodings = st.none() | st.sampled_from(["identity", "gzip", "deflate", "br"])


@settings(max_examples=1000, deadline=None)
@given(status=st.just(200) | st.integers(100, 599), body=bodies, encoding=encodings)
def test_any_answer_gives_the_model_or_a_wechat_error(
    status: int, body: bytes, encoding: Optional[str]
) -> None:
    ADAPTER.status, ADAPTER.body = status, body
    ADAPTER.headers = {"Content-Encoding": encoding} if encoding else {}
    for call, model in CALLS:
        try:
            result = call(CLIENT)
        except wo.WeChatError as error:
            event(type(error).__name__)
            continue
        event(f"parsed a {model.__name__}")
        assert isinstance(result, model)
        assert 200 <= status < 300
