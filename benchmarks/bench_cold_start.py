"""Cold start: a cron script's ``import wechat_openapi; Client(...)`` against bare requests.

Run from the repository root, with the package installed::

    python benchmarks/bench_cold_start.py [--runs 25] [--repeats 3] [--quick]

Each run (``--runs`` of them per repeat, ``--repeats`` times) is a pair of fresh
interpreters started with ``subprocess.run([python, "-c", ...])``:
one runs ``import requests; requests.Session()``, the other ``import wechat_openapi;
wechat_openapi.Client(access_token=..., base_url="http://127.0.0.1:9")``. What is timed is
the whole process, measured by ``time.perf_counter`` around ``subprocess.run`` in this
process: interpreter start, the imports, the construction and the interpreter's teardown,
as a cron job pays them. Start-up and teardown of the bare interpreter are common to both
and cancel in the difference; the fork and exec of ``subprocess`` add a few milliseconds of
noise to each, which the median over pairs absorbs. The order within a pair alternates, so
drift in the machine's speed (the machine is shared) hits both sides alike. For comparison
each child also prints the time from just before its import to just after its construction
(``perf_counter`` in the child), whose paired difference is reported too.

A second scenario adds one call to a canned server on 127.0.0.1 (a separate process, started
once): ``requests.Session().post(...).json()`` against ``Client(...).get_open_account()``.
The models (and attrs) load on a client's first call, not at import, so this row shows what
a cron script that makes a call pays in all.

Bytecode: requests, urllib3 and attrs were byte-compiled when pip installed them; an editable
install (or PYTHONDONTWRITEBYTECODE) leaves this package uncompiled, so it is compiled first,
as a wheel install would be, and the children run without PYTHONDONTWRITEBYTECODE.

The figures are the median of the per-pair differences (ours minus bare), their range
(min-max) and interquartile spread. ``--repeats`` repeats the whole measurement; the summary
gives the median of the per-repeat medians and their range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from canned_server import serving

import wechat_openapi

TARGET_MS = 15.0
CLOCK = "import time; t = time.perf_counter(); "
DONE = "; print(time.perf_counter() - t)"
BARE = CLOCK + "import requests; requests.Session()" + DONE
OURS = (
    CLOCK + "import wechat_openapi; "
    "wechat_openapi.Client(access_token='CRON_TOKEN', base_url='http://127.0.0.1:9')" + DONE
)
# With one call to the canned server, whose port is formatted in.
BARE_CALL = (
    CLOCK + "import requests; requests.Session().post('http://127.0.0.1:{port}/cgi-bin/open/get', "
    "params={{'access_token': 'CRON_TOKEN'}}, json={{}}, timeout=(5, 10)).json()" + DONE
)
OURS_CALL = (
    CLOCK + "import wechat_openapi; wechat_openapi.Client(access_token='CRON_TOKEN', "
    "base_url='http://127.0.0.1:{port}').get_open_account()" + DONE
)


def compiled_environment() -> Dict[str, str]:
    """Byte-compile this package; the children's environment, without DONTWRITEBYTECODE."""
    package = Path(wechat_openapi.__file__).resolve().parent
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(package)], env=environment, check=True
    )
    return environment


def one_run(code: str, environment: Dict[str, str]) -> Tuple[float, float]:
    """(whole-process wall seconds, in-child seconds from import to constructed)."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    return wall, float(run.stdout)


def measure(
    runs: int, environment: Dict[str, str], bare_code: str, ours_code: str
) -> Dict[str, List[float]]:
    """Per-pair differences, ours minus bare, in seconds: whole process and in-child."""
    wall: List[float] = []
    inside: List[float] = []
    for index in range(runs):
        if index % 2:  # alternate which side goes first
            ours = one_run(ours_code, environment)
            bare = one_run(bare_code, environment)
        else:
            bare = one_run(bare_code, environment)
            ours = one_run(ours_code, environment)
        wall.append(ours[0] - bare[0])
        inside.append(ours[1] - bare[1])
    return {"wall": wall, "inside": inside}


def spread(values: Sequence[float]) -> Tuple[float, float, float, float, float]:
    """(median, min, max, first quartile, third quartile), in milliseconds."""
    milliseconds = sorted(value * 1000 for value in values)
    if len(milliseconds) > 1:
        first, _, third = statistics.quantiles(milliseconds, n=4)
    else:
        first = third = milliseconds[0]
    median = statistics.median(milliseconds)
    return median, milliseconds[0], milliseconds[-1], first, third


def row(label: str, values: Sequence[float]) -> str:
    median, low, high, first, third = spread(values)
    return (
        f"| {label} | {median:.1f} ms | {low:.1f} to {high:.1f} ms | "
        f"{first:.1f} to {third:.1f} ms (IQR {third - first:.1f}) |"
    )


def measure_repeats(
    repeats: int, runs: int, environment: Dict[str, str], port: int
) -> Dict[str, List[float]]:
    """Each repeat's median whole-process difference, per scenario; prints each repeat's rows."""
    medians: Dict[str, List[float]] = {"import": [], "call": []}
    print("| ours - bare, per pair | median | min to max | interquartile |")
    print("| --- | --- | --- | --- |")
    for repeat in range(1, repeats + 1):
        built = measure(runs, environment, BARE, OURS)
        called = measure(
            runs, environment, BARE_CALL.format(port=port), OURS_CALL.format(port=port)
        )
        medians["import"].append(statistics.median(built["wall"]))
        medians["call"].append(statistics.median(called["wall"]))
        print(row(f"repeat {repeat}: import + Client(), whole process", built["wall"]))
        print(row(f"repeat {repeat}: import + Client(), inside the child", built["inside"]))
        print(row(f"repeat {repeat}: import + one call, whole process", called["wall"]))
        print(row(f"repeat {repeat}: import + one call, inside the child", called["inside"]))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="pairs of interpreters per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="whole measurements")
    parser.add_argument(
        "--quick", action="store_true", help="3 pairs, once: checks it runs, not figures"
    )
    args = parser.parse_args()
    runs, repeats = (3, 1) if args.quick else (args.runs, args.repeats)
    if runs < 1 or repeats < 1:
        parser.error("--runs and --repeats must be at least 1")

    print(
        f"wechat-openapi {wechat_openapi.__version__}, Python {sys.version.split()[0]}, "
        f"requests {version('requests')}, urllib3 {version('urllib3')}, "
        f"attrs {version('attrs')}; {repeats} x {runs} paired fresh interpreters"
    )
    if args.quick:
        print("(--quick: it checks the benchmark runs, the figures do not count)")
    print()
    environment = compiled_environment()
    with serving() as port:
        medians = measure_repeats(repeats, runs, environment, port)
    print()
    for scenario, label, target in [
        ("import", "import + Client()", f"; target <= {TARGET_MS:.0f} ms"),
        ("call", "import + one call", ""),
    ]:
        median, low, high, _, _ = spread(medians[scenario])
        print(
            f"{label}, whole-process difference, median of {repeats} repeat medians: "
            f"{median:.1f} ms (range {low:.1f} to {high:.1f} ms){target}"
        )


if __name__ == "__main__":
    main()
