"""The fake's control surface, driven over HTTP from this process against
``python -m wechat_openapi.testing serve`` in another (issue 18, part 4): seeding and
reporting, stalls, faults, expired and revoked tokens, and exact counts."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.serve_support import Served, request, serving
from wechat_openapi._sandbox import (
    DEMO_APPID,
    DEMO_AUTHORIZERS,
    DEMO_COMPONENT_APPID,
    DEMO_COMPONENT_SECRET,
    DEMO_ENCODING_AES_KEY,
    DEMO_OPEN_APPID,
    DEMO_PUSH_TOKEN,
    DEMO_SECRET,
    DEMO_TOKEN,
    UNBOUND_APPID,
    UNBOUND_SECRET,
)
from wechat_openapi.testing import FakeWeChat

STABLE_TOKEN = "/cgi-bin/stable_token"
OPEN_GET = "/cgi-bin/open/get"
COMPONENT_TOKEN = "/cgi-bin/component/api_component_token"
AUTHORIZER_TOKEN = "/cgi-bin/component/api_authorizer_token"
GIVE_UP = 30.0  # seconds: a generous bound on anything the fake answers at once


def stable_token_body(force: bool = False) -> Dict[str, Any]:
    body = {"grant_type": "client_credential", "appid": DEMO_APPID, "secret": DEMO_SECRET}
    return {**body, "force_refresh": True} if force else body


def stable_token(served: Served) -> str:
    """The demo account's token from stable_token in normal mode."""
    status, data = served.post(STABLE_TOKEN, stable_token_body())
    assert status == 200
    return str(json.loads(data)["access_token"])


def open_get(served: Served, token: str) -> Dict[str, Any]:
    status, data = served.post(f"{OPEN_GET}?access_token={token}", {})
    assert status == 200
    return dict(json.loads(data))


def wait_for(condition: Any, what: str) -> None:
    give_up = time.monotonic() + GIVE_UP
    while not condition():
        assert time.monotonic() < give_up, f"never: {what}"
        time.sleep(0.02)


class InFlight:
    """A request sent from a thread of its own: when it was answered, and how."""

    def __init__(self, served: Served, path: str, body: Any) -> None:
        self.answered_at = 0.0
        self.answer: Optional[Tuple[int, bytes]] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._send, args=(served.url, path, body))
        self._thread.start()

    def _send(self, url: str, path: str, body: Any) -> None:
        try:
            self.answer = request(url, path, body, timeout=120)
        except (OSError, http.client.HTTPException) as error:
            self.error = error
        self.answered_at = time.monotonic()
        self.done.set()

    def result(self) -> Tuple[int, Dict[str, Any]]:
        assert self.done.wait(120), "the request was never answered"
        self._thread.join()
        assert self.answer is not None, self.error
        return self.answer[0], json.loads(self.answer[1])


# Seeding and reporting -----------------------------------------------------------------------


def test_serve_prints_every_secret_and_key_and_the_recipes_exports() -> None:
    with serving("--port", "0") as served:
        report = served.report()
        printed = "\n".join(served.lines)
        assert f"AppSecret {DEMO_SECRET}" in printed
        assert f"AppSecret {UNBOUND_SECRET}" in printed
        component = report["components"][0]
        assert component["appid"] == DEMO_COMPONENT_APPID
        for value in (component["secret"], component["push_token"], component["ticket"]):
            assert value in printed
        assert component["encoding_aes_key"] == DEMO_ENCODING_AES_KEY in printed
        assert [a["appid"] for a in component["authorizers"]] == list(DEMO_AUTHORIZERS)
        for authorizer in component["authorizers"]:
            assert f"{authorizer['appid']}: {authorizer['refresh_token']}" in printed
        accounts = {account["appid"]: account for account in report["accounts"]}
        assert set(accounts) == {DEMO_APPID, UNBOUND_APPID, *DEMO_AUTHORIZERS}
        for account in accounts.values():
            assert account["secret"] in printed
        assert accounts[DEMO_APPID] == {
            "appid": DEMO_APPID,
            "secret": DEMO_SECRET,
            "access_token": DEMO_TOKEN,
            "open_appid": DEMO_OPEN_APPID,
        }
        assert (
            served.env
            == report["environment"]
            == {
                "WECHAT_OPENAPI_BASE_URL": served.url,
                "WECHAT_APPID": DEMO_APPID,
                "WECHAT_SECRET": DEMO_SECRET,
                "WECHAT_ACCESS_TOKEN": DEMO_TOKEN,
                "COMPONENT_APPID": DEMO_COMPONENT_APPID,
                "COMPONENT_SECRET": DEMO_COMPONENT_SECRET,
                "PUSH_TOKEN": DEMO_PUSH_TOKEN,
                "ENCODING_AES_KEY": DEMO_ENCODING_AES_KEY,
            }
        )
        assert f"{served.url}/_fake/" in printed
        assert stable_token(served) == DEMO_TOKEN  # the printed secret works
    assert served.process.returncode == 0
    assert served.out == "stopped\n"
    assert served.err == ""


def test_an_empty_fake_exports_its_url_and_reports_a_component_seeded_over_http() -> None:
    with serving("--seed", "empty") as served:
        assert served.env == {"WECHAT_OPENAPI_BASE_URL": served.url}
        assert served.report() == {
            "url": served.url,
            "accounts": [],
            "components": [],
            "environment": {"WECHAT_OPENAPI_BASE_URL": served.url},
        }
        seeded = served.control("component", {"appid": "wxplatform", "authorizers": 3})
        assert seeded["appid"] == "wxplatform"
        assert len(seeded["authorizers"]) == 3
        named = served.control("component", {"authorizers": ["wxshop"], "secret": "s3cret"})
        assert (named["secret"], [a["appid"] for a in named["authorizers"]]) == (
            "s3cret",
            ["wxshop"],
        )
        report = served.report()
        assert report["components"] == [seeded, named]
        assert len(report["accounts"]) == 4  # the authorizers; the platforms' own are not
        assert report["environment"]["COMPONENT_APPID"] == "wxplatform"
        assert report["environment"]["WECHAT_APPID"] == report["accounts"][0]["appid"]
        # What was reported buys the platform's tokens: the secret and ticket a component
        # token, that and a refresh token an authorizer token, that the account's open appid.
        token = component_token(served, seeded)
        authorizer = seeded["authorizers"][1]
        status, answer = authorizer_token(served, seeded, token, authorizer)
        assert status == 200
        accounts = {account["appid"]: account for account in report["accounts"]}
        bound = accounts[authorizer["appid"]]["open_appid"]
        assert open_get(served, answer["authorizer_access_token"])["open_appid"] == bound
        status, data = served.post("/_fake/component", {"appid": "wxplatform"})
        assert status == 400
        assert json.loads(data) == {"error": "component 'wxplatform' exists already"}


def component_token(served: Served, component: Dict[str, Any]) -> str:
    status, data = served.post(
        COMPONENT_TOKEN,
        {
            "component_appid": component["appid"],
            "component_appsecret": component["secret"],
            "component_verify_ticket": component["ticket"],
        },
    )
    assert status == 200
    return str(json.loads(data)["component_access_token"])


def authorizer_token(
    served: Served, component: Dict[str, Any], token: str, authorizer: Dict[str, Any]
) -> Tuple[int, Dict[str, Any]]:
    status, data = served.post(
        f"{AUTHORIZER_TOKEN}?component_access_token={token}",
        {
            "component_appid": component["appid"],
            "authorizer_appid": authorizer["appid"],
            "authorizer_refresh_token": authorizer["refresh_token"],
        },
    )
    return status, json.loads(data)


# Stalls ---------------------------------------------------------------------------------------


def test_a_stalled_path_answers_after_the_stall_and_a_forced_refresh_then_rotates() -> None:
    """WeChat still does the work of a stalled request: the forced refresh sent during the
    stall is answered once it is over, with a new token that is then the live one."""
    seconds = 1.5
    with serving() as served:
        before = time.monotonic()
        assert served.control("stall", {"path": STABLE_TOKEN, "seconds": seconds}) == {
            "path": STABLE_TOKEN,
            "seconds": seconds,
            "where": {},
        }
        forced = InFlight(served, STABLE_TOKEN, stable_token_body(force=True))
        status, answer = forced.result()
        assert forced.answered_at - before >= seconds  # not before the stall ended
        assert status == 200
        assert answer["access_token"] != DEMO_TOKEN
        assert stable_token(served) == answer["access_token"]  # rotated
        assert served.counts()["token_fetches"]["stable_token"] == {
            "normal": 1,
            "force_refresh": 1,
        }


def test_a_stall_where_holds_only_matching_requests_and_ends_when_the_fake_stops() -> None:
    seconds = 600.0  # never reached: stopping the fake ends the stall
    with serving() as served:
        started = time.monotonic()
        where = {"force_refresh": True}
        served.control("stall", {"path": STABLE_TOKEN, "seconds": seconds, "where": where})
        forced = InFlight(served, STABLE_TOKEN, stable_token_body(force=True))
        wait_for(
            lambda: served.counts()["token_fetches"]["stable_token"]["force_refresh"] == 1,
            "the forced refresh arrived",
        )
        for body in (stable_token_body(), {**stable_token_body(), "force_refresh": 1}):
            status, data = served.post(STABLE_TOKEN, body)  # not forced: not held
            assert (status, json.loads(data)["access_token"]) == (200, DEMO_TOKEN)
        assert open_get(served, DEMO_TOKEN)["open_appid"] == DEMO_OPEN_APPID
        assert not forced.done.is_set()
        assert served.stop() == 0
        assert forced.done.wait(GIVE_UP)
        assert forced.answer is None  # dropped unanswered, at once
        assert isinstance(forced.error, ConnectionError)
        assert forced.answered_at - started < seconds
        assert served.out == "stopped\n"


# Faults ---------------------------------------------------------------------------------------


def test_a_status_fault_answers_the_next_requests_with_it_then_serves_again() -> None:
    with serving() as served:
        assert served.control(
            "fault", {"kind": "status", "status": 503, "path": OPEN_GET, "times": 2}
        ) == {"kind": "status", "path": OPEN_GET, "times": 2}
        statuses = [served.post(f"{OPEN_GET}?access_token={DEMO_TOKEN}", {}) for _ in range(3)]
        assert [status for status, _ in statuses] == [503, 503, 200]
        assert b"503 Service Unavailable" in statuses[0][1]
        assert json.loads(statuses[2][1])["open_appid"] == DEMO_OPEN_APPID


def test_a_cut_answer_ends_part_way_through_its_body() -> None:
    with serving() as served:
        served.control("fault", {"kind": "cut", "after": 5, "path": OPEN_GET})
        with pytest.raises(http.client.IncompleteRead) as cut:
            served.post(f"{OPEN_GET}?access_token={DEMO_TOKEN}", {})
        assert cut.value.partial == b'{"err'
        assert open_get(served, DEMO_TOKEN)["open_appid"] == DEMO_OPEN_APPID


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"kind": "api_error", "errcode": -1}, "system error rid: "),
        ({"kind": "api_error", "errcode": 45009, "errmsg": "slow down"}, "slow down rid: "),
        ({"kind": "reset"}, ConnectionError),
        ({"kind": "delay", "seconds": 1}, 1.0),
        ({"kind": "trickle", "interval": 0.005}, DEMO_OPEN_APPID),
    ],
)
def test_the_other_faults_act_as_their_fault_kinds(fault: Dict[str, Any], expected: Any) -> None:
    with serving() as served:
        before = time.monotonic()
        served.control("fault", {**fault, "path": OPEN_GET})
        if expected is ConnectionError:  # reset: no answer at all
            with pytest.raises(ConnectionError):  # http.client's RemoteDisconnected is one
                served.post(f"{OPEN_GET}?access_token={DEMO_TOKEN}", {})
        else:
            _, data = served.post(f"{OPEN_GET}?access_token={DEMO_TOKEN}", {})
            answer = json.loads(data)
            if isinstance(expected, float):  # delay: answered normally, afterwards
                assert time.monotonic() - before >= expected
                assert answer["open_appid"] == DEMO_OPEN_APPID
            elif expected == DEMO_OPEN_APPID:  # trickle: answered normally, slowly
                assert answer["open_appid"] == DEMO_OPEN_APPID
            else:
                assert answer["errcode"] == fault["errcode"]
                assert answer["errmsg"].startswith(expected)
        assert open_get(served, DEMO_TOKEN)["open_appid"] == DEMO_OPEN_APPID  # once only


# Expired and revoked tokens --------------------------------------------------------------------


def test_an_accounts_tokens_expire_or_are_revoked_and_stable_token_gives_a_new_one() -> None:
    with serving() as served:
        assert served.control("expire", {"appid": DEMO_APPID}) == {"ok": True}
        assert open_get(served, DEMO_TOKEN)["errcode"] == 42001
        renewed = stable_token(served)
        assert renewed != DEMO_TOKEN
        assert open_get(served, renewed)["open_appid"] == DEMO_OPEN_APPID
        assert served.control("revoke", {"appid": DEMO_APPID}) == {"ok": True}
        assert open_get(served, renewed)["errcode"] == 40001
        assert open_get(served, DEMO_TOKEN)["errcode"] == 40001
        again = stable_token(served)
        assert again not in (DEMO_TOKEN, renewed)
        assert open_get(served, again)["open_appid"] == DEMO_OPEN_APPID
        assert served.report()["accounts"][0]["access_token"] == again


def test_a_refused_token_is_still_handed_out_until_a_forced_refresh() -> None:
    with serving() as served:
        assert served.control("refuse", {"appid": DEMO_APPID}) == {"ok": True}
        assert open_get(served, DEMO_TOKEN)["errcode"] == 40001
        assert stable_token(served) == DEMO_TOKEN  # normal mode: the refused token again
        status, data = served.post(STABLE_TOKEN, stable_token_body(force=True))
        forced = json.loads(data)["access_token"]
        assert status == 200
        assert forced != DEMO_TOKEN
        assert open_get(served, forced)["open_appid"] == DEMO_OPEN_APPID
        assert open_get(served, DEMO_TOKEN)["errcode"] == 40001


def test_an_authorizers_tokens_expire_and_its_authorization_is_revoked() -> None:
    with serving() as served:
        component = served.report()["components"][0]
        token = component_token(served, component)
        authorizer = component["authorizers"][0]
        _, first = authorizer_token(served, component, token, authorizer)
        target = {"appid": authorizer["appid"], "component_appid": component["appid"]}
        assert served.control("expire", target) == {"ok": True}
        assert open_get(served, first["authorizer_access_token"])["errcode"] == 42001
        status, second = authorizer_token(served, component, token, authorizer)
        assert status == 200  # the refresh token still works
        assert "open_appid" in open_get(served, second["authorizer_access_token"])
        assert served.control("revoke", target) == {"ok": True}
        assert open_get(served, second["authorizer_access_token"])["errcode"] == 40001
        assert authorizer_token(served, component, token, authorizer)[1]["errcode"] == 61023
        assert served.report()["components"][0]["authorizers"][0]["revoked"] is True


# Counts ---------------------------------------------------------------------------------------


def test_counts_are_exact_under_many_threads_and_count_stalled_and_failed_requests() -> None:
    threads, rounds = 16, 10
    with serving() as served:
        component = served.report()["components"][0]
        token = component_token(served, component)
        authorizer = component["authorizers"][0]
        assert served.control("counts/reset")["token_fetches"]["component_token"] == 1
        served.control("fault", {"kind": "status", "status": 502, "path": OPEN_GET, "times": 5})
        start = threading.Barrier(threads + 1, timeout=GIVE_UP)
        failures: List[BaseException] = []

        def work(index: int) -> None:
            try:
                start.wait()
                served.post(f"/cgi-bin/openapi/quota/get?access_token={DEMO_TOKEN}", {})
                for _ in range(rounds):
                    served.post(STABLE_TOKEN, stable_token_body(force=index % 4 == 0))
                    served.post(f"{OPEN_GET}?access_token={DEMO_TOKEN}", {})
                    served.post(COMPONENT_TOKEN, {"component_appid": component["appid"]})
                    authorizer_token(served, component, token, authorizer)
                    served.post("/cgi-bin/not/served", {})  # a 404: not counted
                    served.post("/_fake/counts", method="GET")  # control: not counted
            except BaseException as error:  # handed to the test below
                failures.append(error)

        workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
        for worker in workers:
            worker.start()
        # Every thread's first request is held by this stall: counted on arrival all the same.
        served.control("stall", {"path": "/cgi-bin/openapi/quota/get", "seconds": 1})
        start.wait()
        for worker in workers:
            worker.join(120)
        assert not failures, failures[0]
        calls = threads * rounds
        expected = {
            "requests": {
                COMPONENT_TOKEN: calls,
                AUTHORIZER_TOKEN: calls,
                OPEN_GET: calls,
                "/cgi-bin/openapi/quota/get": threads,
                STABLE_TOKEN: calls,
            },
            "token_fetches": {
                "stable_token": {"normal": calls * 3 // 4, "force_refresh": calls // 4},
                "component_token": calls,
                "authorizer_token": calls,
            },
        }
        assert served.counts() == expected
        assert served.control("counts/reset") == expected
        assert served.counts() == {
            "requests": {},
            "token_fetches": {
                "stable_token": {"normal": 0, "force_refresh": 0},
                "component_token": 0,
                "authorizer_token": 0,
            },
        }


# Mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/_fake/nope", {}, 404, "no control path '/_fake/nope'; the control paths are"),
        ("GET", "/_fake", None, 404, "no control path '/_fake'"),
        ("GET", "/_fake/stall", None, 405, "/_fake/stall takes POST"),
        ("POST", "/_fake/stall", b"not json", 400, "the body must be a JSON object"),
        ("POST", "/_fake/stall", [1], 400, "the body must be a JSON object"),
        ("POST", "/_fake/stall", {"seconds": 1}, 400, "path must be a non-empty string"),
        ("POST", "/_fake/stall", {"path": STABLE_TOKEN}, 400, "seconds must be a number"),
        ("POST", "/_fake/stall", {"path": "x", "seconds": 1}, 400, "path must be a path"),
        ("POST", "/_fake/stall", {"path": "/_fake/counts", "seconds": 1}, 400, "never stalled"),
        ("POST", "/_fake/stall", {"path": OPEN_GET, "seconds": 0}, 400, "seconds must be a"),
        ("POST", "/_fake/stall", {"path": OPEN_GET, "seconds": 1, "where": 1}, 400, "where"),
        ("POST", "/_fake/fault", {"kind": "boom"}, 400, "kind must be one of status, api_error"),
        ("POST", "/_fake/fault", {"kind": "status", "status": 200}, 400, "status must be"),
        ("POST", "/_fake/fault", {"kind": "reset", "times": 0}, 400, "times must be"),
        ("POST", "/_fake/expire", {"appid": "wxnobody"}, 404, "no account 'wxnobody'"),
        ("POST", "/_fake/revoke", {"appid": DEMO_APPID, "component_appid": "wxno"}, 404, "no "),
        (
            "POST",
            "/_fake/revoke",
            {"appid": UNBOUND_APPID, "component_appid": DEMO_COMPONENT_APPID},
            404,
            "never authorized",
        ),
        ("POST", "/_fake/component", {"authorizers": -1}, 400, "authorizers must be"),
        ("POST", "/_fake/component", {"authorizers": [""]}, 400, "authorizers must be"),
        ("POST", "/_fake/component", {"rotate_refresh_tokens": 1}, 400, "true or false"),
        ("POST", "/_fake/component", {"encoding_aes_key": "short"}, 400, "encoding_aes_key"),
    ],
)
def test_control_mistakes_answer_json_errors_and_change_nothing(
    method: str, path: str, body: Any, status: int, error: str
) -> None:
    with serving() as served:
        before = served.report()
        answer = served.post(path, body, method=method)
        assert answer[0] == status
        assert error in json.loads(answer[1])["error"]
        assert served.report() == before
        assert served.counts()["requests"] == {}


def test_the_control_prefix_is_never_a_wechat_path_and_wechat_paths_keep_their_answers() -> None:
    with serving() as served:
        assert served.post("/_fakery", {})[0] == 404  # the fake's HTML 404 for WeChat paths
        assert served.post(OPEN_GET, method="GET")[0] == 501  # WeChat's endpoints take POST
        assert served.counts()["requests"] == {}


# In this process: the same operations as methods ---------------------------------------------


def test_the_methods_refuse_bad_arguments() -> None:
    with FakeWeChat() as fake:
        for path, seconds, where, error in [
            (OPEN_GET, 1, {1: True}, TypeError),
            (OPEN_GET, 1, [("force_refresh", True)], TypeError),
            (OPEN_GET, -1, None, ValueError),
            (OPEN_GET, True, None, TypeError),
            (b"/cgi-bin/open/get", 1, None, TypeError),
            ("cgi-bin/open/get", 1, None, ValueError),
        ]:
            with pytest.raises(error):
                fake.stall(path, seconds, where=where)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="authorizers must be at least 0"):
            fake.seed_component(authorizers=-1)
        fake.add_component("wxplatform")
        with pytest.raises(ValueError, match="exists already"):
            fake.seed_component("wxplatform")


def test_in_process_control_requests_are_neither_logged_nor_counted() -> None:
    with FakeWeChat() as fake:
        shop = fake.add_account("wxshop", open_appid="wxopen-shop")
        fake.stall(OPEN_GET, 0.2, where={"appid": "wxshop"})
        fake.client(shop).get_open_account()  # its body is {}: not held
        assert request(fake.url, "/_fake/counts", method="GET")[0] == 200
        assert [logged.path for logged in fake.requests] == [OPEN_GET]
        assert fake.counts()["requests"] == {OPEN_GET: 1}
        assert fake.reset_counts()["requests"] == {OPEN_GET: 1}
        assert fake.counts()["requests"] == {}


def test_stopping_the_fake_ends_its_stalls_and_the_threads_they_hold() -> None:
    """Not only does the client see the connection close: the handler held by the stall
    returns at once, rather than sleeping out the window in a thread of a stopped fake."""
    fake = FakeWeChat().start()
    before = set(threading.enumerate())
    try:
        fake.stall(OPEN_GET, 600)
        dropped: List[BaseException] = []

        def send() -> None:
            try:
                request(fake.url, OPEN_GET, {}, timeout=120)
            except ConnectionError as error:  # the answer it never gets
                dropped.append(error)

        held = threading.Thread(target=send)
        held.start()
        wait_for(lambda: fake.counts()["requests"] == {OPEN_GET: 1}, "the request arrived")
        handlers = list(set(threading.enumerate()) - before - {held})  # the fake's, serving it
        assert len(handlers) == 1
    finally:
        fake.stop()
    wait_for(lambda: not handlers[0].is_alive(), "the held handler returned")
    held.join(GIVE_UP)
    assert len(dropped) == 1
