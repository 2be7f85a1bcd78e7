"""``python -m wechat_openapi.testing serve`` in a process of its own, for the tests of its
control surface and of the README's recipes run against it: its start-up lines, the
environment its ``export`` lines give, and plain HTTP to it (no client library between)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

START_UP = 30.0  # seconds serve may take to print its start-up lines (it takes well under 1)
STOP = 30.0  # seconds it may take to stop once signalled


class Served:
    """A running serve: its URL, start-up lines and exported environment, and its output."""

    def __init__(self, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
        self.process = process
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.lines = self._start_up()
        except BaseException:  # its pipes close next: first stop it and the thread reading
            self.process.kill()
            self.process.wait()
            self._reader.join(STOP)
            raise
        self.url = self.lines[0].split()[3]
        self.env = exported(self.lines)
        self.out = ""  # what it printed after start-up, once stopped
        self.err = ""

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _start_up(self) -> List[str]:
        """The lines up to the empty one that ends the export lines, each read as soon as
        serve prints it (its stdout is line-buffered)."""
        lines: List[str] = []
        give_up = time.monotonic() + START_UP
        while True:
            line = self._lines.get(timeout=max(0.0, give_up - time.monotonic()))
            assert line is not None, f"serve ended during start-up: {lines}"
            if line == "\n" and any(seen.startswith("export ") for seen in lines):
                return lines
            lines.append(line.rstrip("\n"))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal serve, wait for it, and keep what it printed; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(STOP)
        finally:
            if self.process.poll() is None:  # pragma: no cover - only when serve hangs
                self.process.kill()
                self.process.wait()
        self._reader.join(STOP)
        rest = []
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                rest.append(line)
        self.out = "".join(rest)
        assert self.process.stderr is not None
        self.err = self.process.stderr.read()
        return self.process.returncode

    # HTTP ---------------------------------------------------------------------------------

    def post(
        self, path: str, body: Any = None, *, method: str = "POST", timeout: float = 30
    ) -> Tuple[int, bytes]:
        """One request on a connection of its own: (status, body)."""
        return request(self.url, path, body, method=method, timeout=timeout)

    def control(self, name: str, body: Any = None, *, method: str = "POST") -> Any:
        """A control operation that must succeed; its JSON answer."""
        status, data = self.post(f"/_fake/{name}", body, method=method)
        assert status == 200, data
        return json.loads(data)

    def report(self) -> Dict[str, Any]:
        return dict(self.control("report", method="GET"))

    def counts(self) -> Dict[str, Any]:
        return dict(self.control("counts", method="GET"))


def request(
    url: str, path: str, body: Any = None, *, method: str = "POST", timeout: float = 30
) -> Tuple[int, bytes]:
    """``method`` ``path`` on ``url`` with ``body`` as JSON (bytes as they are)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def exported(lines: List[str]) -> Dict[str, str]:
    """The environment serve's ``export NAME=VALUE`` lines set, as a shell would read them."""
    variables = {}
    for line in lines:
        if line.startswith("export "):
            name, value = line[len("export ") :].split("=", 1)
            (variables[name],) = shlex.split(value)
    return variables


def environment(served: Served) -> Dict[str, str]:
    """This process's environment with serve's exports, and none of the recipes' variables
    from elsewhere: a recipe run with it is configured by serve alone."""
    names = set(served.env) | {"WECHAT_OPENAPI_BASE_URL", "WECHAT_ACCESS_TOKEN"}
    base = {name: value for name, value in os.environ.items() if name not in names}
    return {**base, **served.env}


@contextlib.contextmanager
def serving(*arguments: str) -> Iterator[Served]:
    """Run serve with ``arguments`` until the block ends (or a test stops it first)."""
    with subprocess.Popen(
        [sys.executable, "-m", "wechat_openapi.testing", "serve", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        served = Served(process)
        try:
            yield served
        finally:
            served.stop()
