"""The documented benchmark command still runs and reports every measure (its figures are
reported in the README, not asserted: tests check behaviour, benchmarks measure speed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(script: str, *arguments: str) -> str:
    """What the benchmark printed; it must exit 0 and leave no file to the garbage collector."""
    result = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", f"benchmarks/{script}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "unclosed file" not in result.stderr  # the canned server's pipe, closed by the block
    return result.stdout


def test_the_benchmark_runs_and_prints_every_row() -> None:
    printed = run_benchmark(
        "bench_call_cost.py", "--quick", "--runs", "2", "--blocks", "2", "--calls", "20"
    )
    for measure in [
        "CPU per call, http.client + json.loads (floor)",
        "CPU per call, urllib3 urlopen + json.loads",
        "CPU per call, requests.Session().post(...).json() (bare)",
        "CPU per call, Client.get_open_account() (ours)",
        "ours / bare, median of per-block ratios",
        "ours / floor, median of per-block ratios",
        "ours / urllib3, median of per-block ratios",
        "2 runs of 2 blocks of 20 calls per contender",
        "  run 2: ",
        "TCP connections, 1,000 sequential calls | 1 |",
        "TCP connections, 16 threads x 100 calls",
        "RSS growth over 10,000 calls",
        "peak RSS growth while a 256 MiB body is refused",
        "(refused: True)",
        "calls/s, 16 threads sharing one client",
        "with_options(access_token=...) per derived client",
        "memory per derived client (tracemalloc)",
        "TCP connections, 1,000 derived clients x 1 call, in turn | 1 |",
        "TCP connections, 1,000 derived clients x 1 call, 16 threads",
        "ComponentPlatform.client(appid) per request",
        "memory per authorized account (token slot + client)",
        "TCP connections, 1,000 authorized accounts, 16 threads (fetch + call)",
    ]:
        assert measure in printed


def test_the_cold_start_benchmark_runs_and_prints_every_row() -> None:
    printed = run_benchmark("bench_cold_start.py", "--quick")
    for measure in [
        "requests ",
        "urllib3 ",
        "attrs ",
        "| repeat 1: import + Client(), whole process |",
        "| repeat 1: import + Client(), inside the child |",
        "| repeat 1: import + one call, whole process |",
        "| repeat 1: import + one call, inside the child |",
        "import + Client(), whole-process difference, median of 1 repeat medians:",
        "import + one call, whole-process difference, median of 1 repeat medians:",
    ]:
        assert measure in printed
