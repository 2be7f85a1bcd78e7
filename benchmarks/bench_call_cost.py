"""Client CPU per call: wechat-openapi against bare requests, urllib3 and the http.client floor.

Run from the repository root, with the package installed::

    python benchmarks/bench_call_cost.py

A canned keep-alive server runs in a separate process on 127.0.0.1, so only the client's CPU
is measured (``time.process_time``). The contenders take turns in blocks, so drift in the
machine's speed hits them alike; a run's ratio is the median of its per-block ratios, and the
figures printed are the medians over ``--runs`` runs (3 by default) with their range, so that
one lucky run cannot make a figure. Then: TCP connections, RSS over 10,000 calls, and peak
RSS while a 256 MiB body is refused, each in a fresh interpreter where the figure depends on
it; the cost of a client per account (``with_options``) and the connections 10,000 of them
use; and calls per second with 16 threads on one client against 16 threads on one requests
Session. The import's cost is ``bench_cold_start.py``'s.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import requests
import urllib3
from canned_server import serving

import wechat_openapi
from wechat_openapi import Client, ComponentPlatform, InvalidResponseError

TOKEN = "BENCHMARK_TOKEN_0123456789abcdefghijklmnopqrstuvwxyz"
PATH = "/cgi-bin/open/get"
CHILD_TIMEOUT = 600  # seconds a child interpreter may take before the benchmark gives up on it

Call = Callable[[], object]


def post_connections(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/stats")
    count = json.loads(connection.getresponse().read())["post_connections"]
    connection.close()
    return int(count)


def contenders(port: int) -> Dict[str, Call]:
    floor_connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    floor_target = f"{PATH}?access_token={TOKEN}"
    floor_headers = {"Content-Type": "application/json"}

    def floor() -> object:
        floor_connection.request("POST", floor_target, body=b"{}", headers=floor_headers)
        return json.loads(floor_connection.getresponse().read())

    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, timeout=urllib3.Timeout(5, 10))

    def urllib3_direct() -> object:
        return json.loads(
            pool.urlopen("POST", floor_target, body=b"{}", headers=floor_headers).data
        )

    session = requests.Session()
    url = f"http://127.0.0.1:{port}{PATH}"

    def bare() -> object:
        return session.post(url, params={"access_token": TOKEN}, json={}, timeout=(5, 10)).json()

    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    return {
        "floor": floor,
        "urllib3": urllib3_direct,
        "bare": bare,
        "ours": client.get_open_account,
    }


def cpu_per_call(blocks: int, calls: int, port: int) -> Dict[str, List[float]]:
    """Per-block CPU seconds per call, the contenders taking turns (rotated each block)."""
    runners = contenders(port)
    names = list(runners)
    for run in runners.values():  # warm up: connections, caches, first-call imports
        for _ in range(200):
            run()
    results: Dict[str, List[float]] = {name: [] for name in names}
    for block in range(blocks):
        order = names[block % len(names) :] + names[: block % len(names)]
        for name in order:
            run = runners[name]
            started = time.process_time()
            for _ in range(calls):
                run()
            results[name].append((time.process_time() - started) / calls)
    return results


def connections_used(port: int, scale: int) -> Tuple[int, int]:
    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    before = post_connections(port)
    for _ in range(1000 // scale):
        client.get_open_account()
    sequential = post_connections(port) - before
    client.close()

    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    before = post_connections(port)

    def hundred() -> None:
        for _ in range(100 // scale):
            client.get_open_account()

    threads = [threading.Thread(target=hundred) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    threaded = post_connections(port) - before
    client.close()
    return sequential, threaded


def derived_client_cost(count: int) -> Tuple[float, float]:
    """Seconds and bytes per ``with_options(access_token=...)`` client: the cost of a client
    per authorized account. Best of 5 timed rounds; bytes from tracemalloc, clients kept."""
    root = Client(access_token=TOKEN, base_url="http://127.0.0.1:9")
    tokens = [f"{TOKEN}-{index:06d}" for index in range(count)]
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for token in tokens:
            root.with_options(access_token=token)
        rounds.append((time.perf_counter() - started) / count)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [root.with_options(access_token=token) for token in tokens]
    size = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    tracemalloc.stop()
    return min(rounds), size


def derived_connections(port: int, accounts: int) -> Tuple[int, int]:
    """TCP connections used by ``accounts`` derived clients making one call each: in turn,
    then spread over 16 threads. Each keeps its own token; all share the root's pool."""
    base_url = f"http://127.0.0.1:{port}"
    counts = []
    for threads in (1, 16):
        root = Client(access_token=TOKEN, base_url=base_url)
        clients = [root.with_options(access_token=f"t{index}") for index in range(accounts)]
        before = post_connections(port)

        def work(share: List[Client]) -> None:
            for client in share:
                client.get_open_account()

        workers = [
            threading.Thread(target=work, args=(clients[i::threads],)) for i in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        counts.append(post_connections(port) - before)
        root.close()
    return counts[0], counts[1]


class MemoryStore:
    """A refresh-token store for the platform benchmark."""

    def load(self, authorizer_appid: str) -> str:
        return "BENCHMARK_REFRESH"

    def save(self, authorizer_appid: str, refresh_token: str) -> None:
        pass


def platform_accounts(port: int, accounts: int) -> Tuple[float, float, int]:
    """A third-party platform with ``accounts`` authorized accounts in one process: seconds
    per ``client(appid)`` (best of 5 rounds, slots already made), bytes per account
    (tracemalloc: its token slot and a client), and the TCP connections used when 16 threads
    call every account once (a token fetch and a call each)."""
    platform = ComponentPlatform(
        "wxbenchmarkcomponent",
        "BENCHMARK_SECRET",
        refresh_tokens=MemoryStore(),
        base_url=f"http://127.0.0.1:{port}",
    )
    platform.set_verify_ticket("BENCHMARK_TICKET")
    appids = [f"wx{index:08d}" for index in range(accounts)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clients = [platform.client(appid) for appid in appids]
    size = (tracemalloc.get_traced_memory()[0] - before) / accounts
    tracemalloc.stop()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for appid in appids:
            platform.client(appid)
        rounds.append((time.perf_counter() - started) / accounts)
    before_connections = post_connections(port)

    def work(share: List[Client]) -> None:
        for client in share:
            client.get_open_account()

    workers = [threading.Thread(target=work, args=(clients[i::16],)) for i in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    connections = post_connections(port) - before_connections
    platform.close()
    return min(rounds), size, connections


def threaded_throughput(port: int, calls: int) -> Dict[str, float]:
    """Calls per second with 16 threads sharing one client (ours) or one Session (bare)."""
    url = f"http://127.0.0.1:{port}{PATH}"
    session = requests.Session()
    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    runners: Dict[str, Call] = {
        "bare": lambda: session.post(
            url, params={"access_token": TOKEN}, json={}, timeout=(5, 10)
        ).json(),
        "ours": client.get_open_account,
    }
    rates = {}
    for name, run in runners.items():

        def work() -> None:
            for _ in range(calls):
                run()  # noqa: B023 (each thread runs this contender's call)

        workers = [threading.Thread(target=work) for _ in range(16)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rates[name] = 16 * calls / (time.perf_counter() - started)
    client.close()
    return rates


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def rss_child(port: int, scale: int) -> None:
    """In a fresh interpreter: RSS after a 1,000-call warm-up, and after 10,000 more calls."""
    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    for _ in range(1000):
        client.get_open_account()
    gc.collect()
    before = status_kib("VmRSS")
    for _ in range(10_000 // scale):
        client.get_open_account()
    gc.collect()
    print(json.dumps({"before_kib": before, "after_kib": status_kib("VmRSS")}))


def huge_child(port: int) -> None:
    """In a fresh interpreter: the peak RSS while a 256 MiB body is refused."""
    client = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}/huge")
    warm = Client(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")
    warm.get_open_account()
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = status_kib("VmRSS")
    try:
        client.get_open_account()
        refused = False
    except InvalidResponseError:
        refused = True
    print(json.dumps({"before_kib": before, "peak_kib": status_kib("VmHWM"), "refused": refused}))


def child(mode: str, port: int, quick: bool) -> Dict[str, int]:
    script = str(Path(__file__).resolve())
    output = subprocess.run(
        [sys.executable, script, f"--{mode}-child", str(port), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=True,
        timeout=CHILD_TIMEOUT,
    ).stdout
    return json.loads(output)  # type: ignore[no-any-return]


def micro(seconds: float, digits: int = 0) -> str:
    return f"{seconds * 1e6:.{digits}f} µs"


def spread(values: List[float], show: Callable[[float], str]) -> str:
    """The median of ``values`` with their range: '2.03 (2.01-2.10)'."""
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{show(median)} ({show(low)}-{show(high)})" if len(values) > 1 else show(median)


def versions() -> str:
    installed = ", ".join(f"{name} {version(name)}" for name in ("requests", "urllib3", "attrs"))
    return f"Python {sys.version.split()[0]}, {installed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the CPU-per-call measure")
    parser.add_argument("--blocks", type=int, default=15, help="blocks per run")
    parser.add_argument("--calls", type=int, default=300, help="calls per contender per block")
    parser.add_argument(
        "--quick", action="store_true", help="a tenth of the work: checks it runs, not figures"
    )
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--huge-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child, 10 if args.quick else 1)
    if args.huge_child:
        return huge_child(args.huge_child)

    load_before = os.getloadavg()[0]
    with serving() as port:
        runs = [cpu_per_call(args.blocks, args.calls, port) for _ in range(args.runs)]
        sequential, threaded = connections_used(port, 10 if args.quick else 1)
        per_derived, derived_bytes = derived_client_cost(1000 if args.quick else 10_000)
        derived_sequential, derived_threaded = derived_connections(
            port, 1000 if args.quick else 10_000
        )
        rates = threaded_throughput(port, 20 if args.quick else 200)
        per_platform_client, account_bytes, platform_connections = platform_accounts(
            port, 1000 if args.quick else 10_000
        )
        rss = child("rss", port, args.quick)
        huge = child("huge", port, args.quick)

    def per_call(name: str) -> List[float]:
        return [statistics.median(run[name]) for run in runs]

    def ratio(over: str) -> List[float]:
        """Each run's median of per-block ratios, ours over ``over``."""
        return [
            statistics.median(ours / other for ours, other in zip(run["ours"], run[over]))
            for run in runs
        ]

    def two(value: float) -> str:
        return f"{value:.2f}"

    derived_label = "1,000" if args.quick else "10,000"
    rss_before, rss_after = rss["before_kib"] / 1024, rss["after_kib"] / 1024
    rss_growth = rss_after - rss_before
    peak_growth = (huge["peak_kib"] - huge["before_kib"]) / 1024

    print(f"wechat-openapi {wechat_openapi.__version__}; {versions()}")
    print(
        f"{args.runs} runs of {args.blocks} blocks of {args.calls} calls per contender; "
        f"figures are medians over the runs (range); load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    if args.quick:
        print(
            "(--quick: a tenth of the work; it checks the benchmark runs, the figures do not count)"
        )
    print()
    rows = [
        ("CPU per call, http.client + json.loads (floor)", spread(per_call("floor"), micro), ""),
        ("CPU per call, urllib3 urlopen + json.loads", spread(per_call("urllib3"), micro), ""),
        (
            "CPU per call, requests.Session().post(...).json() (bare)",
            spread(per_call("bare"), micro),
            "",
        ),
        ("CPU per call, Client.get_open_account() (ours)", spread(per_call("ours"), micro), ""),
        ("ours / bare, median of per-block ratios", spread(ratio("bare"), two), "<= 0.36"),
        ("ours / floor, median of per-block ratios", spread(ratio("floor"), two), "<= 2.0"),
        ("ours / urllib3, median of per-block ratios", spread(ratio("urllib3"), two), ""),
        (
            "calls/s, 16 threads sharing one client: ours / bare requests (one Session)",
            f"{rates['ours']:,.0f} / {rates['bare']:,.0f}",
            "",
        ),
        ("TCP connections, 1,000 sequential calls", str(sequential), "1"),
        ("TCP connections, 16 threads x 100 calls", str(threaded), "<= 16"),
        ("with_options(access_token=...) per derived client", micro(per_derived, 2), "<= 5 µs"),
        ("memory per derived client (tracemalloc)", f"{derived_bytes:.0f} B", "<= 1024 B"),
        (
            f"TCP connections, {derived_label} derived clients x 1 call, in turn",
            str(derived_sequential),
            "1",
        ),
        (
            f"TCP connections, {derived_label} derived clients x 1 call, 16 threads",
            str(derived_threaded),
            "<= 16",
        ),
        (
            "ComponentPlatform.client(appid) per request",
            micro(per_platform_client, 2),
            "<= 10 µs",
        ),
        ("memory per authorized account (token slot + client)", f"{account_bytes:.0f} B", ""),
        (
            f"TCP connections, {derived_label} authorized accounts, 16 threads (fetch + call)",
            str(platform_connections),
            "<= 16",
        ),
        (
            "RSS growth over 10,000 calls",
            f"{rss_growth:.2f} MiB ({rss_before:.1f} to {rss_after:.1f})",
            "<= 2 MiB",
        ),
        (
            "peak RSS growth while a 256 MiB body is refused",
            f"{peak_growth:.1f} MiB (refused: {huge['refused']})",
            "<= 48 MiB",
        ),
    ]
    print("| measure | result | target |")
    print("| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    ratios = {name: ratio(name) for name in ("bare", "floor", "urllib3")}
    print()
    print("per run, ours / bare, / floor, / urllib3:")
    for index, values in enumerate(zip(*ratios.values()), 1):
        print(f"  run {index}: " + ", ".join(f"{value:.3f}" for value in values))


if __name__ == "__main__":
    main()
