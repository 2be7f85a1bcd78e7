"""The adversarial campaign: every public way to call WeChat, driven against the adversary.

    python -m tests.campaign --calls 10000 --threads 16 --seed 1 [--deadline 1.5]

Each call is one of the Client's methods (on clients derived from a shared pool, so that
calls of different tokens share connections, as a Django worker's do),
``clear_quota_by_app_secret``, ``Client.from_stable_token`` then a method, or a
``ComponentPlatform`` going from its ticket to a component token to an authorizer token to
a method. Every call has secrets of
its own, of realistic lengths, and the server knows them. For every call it checks (see
:mod:`tests.campaign_checks`): a model (or None where documented) or a WeChatError, within
the deadline and a second, no secret or 16-character window of one in any text the error or
the logs show, and the oracles (a valid answer in faithful framing succeeds with the right
values; no model from a non-200 answer; no model from another request's answer). Over the
run: no file descriptor or thread left behind. The summary is printed; the exit code is 1
on any failure.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import sys
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attr

import wechat_openapi as wo
from tests.adversary import Adversary
from tests.adversary_answers import (
    CLEAR_QUOTA,
    CLEAR_QUOTA_V2,
    OPEN_GET,
    QUERY_NICKNAME,
    QUOTA_GET,
    RID_GET,
    Timing,
    random_secret,
)
from tests.campaign_checks import Call, Summary, check_call
from tests.campaign_clock import Starvation
from tests.campaign_leaks import CapturedLogs, ThreadLogs
from tests.platform_support import Store

# Each public call: the path whose answer becomes its result, the result's type, and how to
# make it on a client (with the call's random generator for its argument).
Method = Callable[[wo.Client, random.Random], Any]
METHODS: Dict[str, Tuple[str, Optional[type], Method]] = {
    "get_rid_info": (RID_GET, wo.RidInfo, lambda c, r: c.get_rid_info(f"6a1b-{r.random()}")),
    "get_open_account": (
        OPEN_GET,
        wo.OpenAccount,
        lambda c, r: c.get_open_account(r.choice((None, "wx" + random_secret(r, 16)))),
    ),
    "query_nickname_status": (
        QUERY_NICKNAME,
        wo.NicknameAudit,
        lambda c, r: c.query_nickname_status(r.randint(1, 10**9)),
    ),
    "get_api_quota": (
        QUOTA_GET,
        wo.ApiQuota,
        lambda c, r: c.get_api_quota(r.choice(("/cgi-bin/message/custom/send", "cgi-bin/x"))),
    ),
    "clear_quota": (CLEAR_QUOTA, None, lambda c, r: c.clear_quota("wx" + random_secret(r, 16))),
}
MODEL_METHODS = [name for name in METHODS if name != "clear_quota"]
ROUTES = ("client", "client", "client", "clear_quota_by_app_secret", "stable_token", "platform")


def access_token(rng: random.Random) -> str:
    """An access token as WeChat issues them: most 136-157 characters, some shorter."""
    return random_secret(rng, rng.choice((32, 64, 110, 127, 136, 140, 157, 200)))


def hex_secret(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


@attr.s(auto_attribs=True)
class Campaign:
    """One run: the server, the shared clients, and the calls' outcomes."""

    server: Adversary
    deadline: float
    timing: Timing
    seed: int
    logs: ThreadLogs
    clock: Starvation
    shared: List[wo.Client] = attr.Factory(list)
    summary: Summary = attr.Factory(Summary)

    def options(self) -> Dict[str, Any]:
        return {
            "base_url": self.server.url,
            "deadline": self.deadline,
            "timeout": (self.deadline, self.timing.read_timeout),
            "max_retries": 1,
            "max_response_bytes": 64 * 1024,
        }

    def run_one(self, index: int) -> None:
        rng = random.Random(f"{self.seed}/{index}")
        route = rng.choice(ROUTES)
        tag = f"call-{index}"
        self.logs.take()  # records of anything before this call are not its own
        call = Call(index=index, tag=tag, route=route, method="", deadline=self.deadline)
        started = time.monotonic()
        try:
            call.result = self._call(route, rng, call)
        except Exception as error:
            call.error = error
            call.formatted = traceback.format_exc()
        ended = time.monotonic()
        call.duration = ended - started
        if call.duration > self.deadline + 1:  # only then does a pause matter
            call.paused = self.clock.paused(started, ended)
        call.log_texts = self.logs.take()
        check_call(call, self.server, self.summary)

    def _call(self, route: str, rng: random.Random, call: Call) -> Any:
        server = self.server
        if route == "clear_quota_by_app_secret":
            appid, secret = "wx" + random_secret(rng, 16), hex_secret(rng)
            call.method, call.path, call.model = route, CLEAR_QUOTA_V2, None
            call.secrets = [secret]
            server.register(call.tag, appid, secret)
            return wo.Client.clear_quota_by_app_secret(appid, secret, **self.options())
        call.method = rng.choice(MODEL_METHODS if route != "client" else list(METHODS))
        call.path, call.model, make = METHODS[call.method]
        if route == "client":
            token = access_token(rng)
            call.secrets = [token]
            server.register(call.tag, token)
            client = rng.choice(self.shared).with_options(access_token=token)
            call.send_path = _send_path(client)
            return make(client, rng)
        if route == "stable_token":
            appid, secret = "wx" + random_secret(rng, 16), hex_secret(rng)
            call.secrets = [secret]
            server.register(call.tag, appid, secret)
            with wo.Client.from_stable_token(appid, secret, **self.options()) as client:
                _quick(client, rng)
                call.send_path = _send_path(client)
                return make(client, rng)
        component_appid, secret = "wx" + random_secret(rng, 16), hex_secret(rng)
        ticket = random_secret(rng, 95, "ticket@@@")
        authorizer, refresh = (
            "wx" + random_secret(rng, 16),
            random_secret(rng, 57, "refreshtoken@@@"),
        )
        call.secrets = [secret, ticket, refresh]
        server.register(call.tag, component_appid, authorizer, *call.secrets)
        store = Store({authorizer: refresh})
        with wo.ComponentPlatform(
            component_appid, secret, refresh_tokens=store, **self.options()
        ) as platform:
            _quick(platform._client, rng)
            call.send_path = _send_path(platform._client)
            platform.set_verify_ticket(ticket)
            return make(platform.client(authorizer), rng)


SEND_PATHS = ("direct route", "urlopen", "adapter.send")


def _quick(client: wo.Client, rng: random.Random, send_path: str = "") -> None:
    """No real backoff (a campaign waits on sockets, not on jitter), and a send path (by
    chance, unless named)."""
    transport = client._transport
    transport.backoff = lambda retry: 0.01
    send_path = send_path or rng.choice(SEND_PATHS)
    if send_path == "adapter.send":
        transport._fast = False
    elif transport._fast:
        transport._take_pool()  # which settles the direct route, or its absence
        if send_path == "urlopen":
            transport._direct = None


def _send_path(client: wo.Client) -> str:
    transport = client._transport
    if not transport._fast:
        return "adapter.send"
    return "urlopen" if transport._direct is None else "direct route"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run(calls: int, threads: int, seed: int, deadline: float = 1.5) -> Summary:
    """Run a campaign of ``calls`` calls from ``threads`` threads; the summary of it.

    File descriptors are counted once every client is closed, while still referenced (as a
    module-level client is). A socket the library closed only in name (a file still holding
    its fd) is closed by the garbage collector with a ResourceWarning: those are counted, not
    raised, so that the summary says so instead of a later test's teardown."""
    gc.collect()
    fds_before, threads_before = open_fds(), threading.active_count()
    timing = Timing(read_timeout=min(0.5, deadline / 3), deadline=deadline)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        summary = _run(calls, threads, seed, deadline, timing)
        summary.fds = (fds_before, summary.fds[1])
        summary.threads = (threads_before, threading.active_count())
        gc.collect()  # the clients are gone now: what they held is collected
    for warning in caught:
        if issubclass(warning.category, ResourceWarning):
            summary.unclosed.append(str(warning.message))
        else:  # not ours to judge: shown as it would have been
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return summary


def _run(calls: int, threads: int, seed: int, deadline: float, timing: Timing) -> Summary:
    with CapturedLogs() as logs, Adversary(seed, timing) as server, Starvation() as clock:
        campaign = Campaign(server, deadline, timing, seed, logs, clock)
        for send_path in SEND_PATHS:
            shared = wo.Client(access_token="shared-pool-only", **campaign.options())
            _quick(shared, random.Random(0), send_path)
            campaign.shared.append(shared)
        del shared
        counter = itertools.count()
        guard = threading.Lock()

        def work() -> None:
            while True:
                with guard:
                    index = next(counter)
                if index >= calls:
                    return
                campaign.run_one(index)

        workers = [threading.Thread(target=work, name=f"campaign-{n}") for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for client in campaign.shared:
            client.close()
    summary = campaign.summary
    gc.collect()
    summary.fds = (0, open_fds())  # closed, and still referenced, as a user's may be
    summary.redirects_followed = len(server.redirects_followed)
    summary.server_errors = list(server.server_errors)
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.campaign",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=1000, help="calls in all")
    parser.add_argument("--threads", type=int, default=1, help="threads making them")
    parser.add_argument("--seed", type=int, default=1, help="the server's and the calls' seed")
    parser.add_argument("--deadline", type=float, default=1.5, help="each call's, in seconds")
    parser.add_argument("--examples", type=int, default=1, help="examples shown per cause")
    parser.add_argument("--groups", type=int, default=60, help="causes shown, largest first")
    args = parser.parse_args(argv)
    started = time.monotonic()
    summary = run(args.calls, args.threads, args.seed, args.deadline)
    print(summary.report(args.examples, args.groups))
    print(f"wall time {time.monotonic() - started:.1f} s")
    return 1 if summary.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
