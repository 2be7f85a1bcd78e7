"""The project's environments as nox sessions: ``nox`` runs them all (as CI does), and
``nox -s NAME`` runs one. Each session builds its own fresh virtualenv.

- tests-3.8 ... tests-3.13: the full suite on each supported Python, on the newest releases of
  requests and attrs it allows (the 95% coverage floor on the newest Python only);
- tests-minimum-3.8, tests-minimum-3.13: on exactly the oldest releases setup.cfg allows;
- pythons: all of the above, two at a time (the suite waits on sockets more than it computes);
- tests-legacy-3.8 (not run by default): on Ubuntu 20.04's requests, urllib3 and attrs, below
  setup.cfg's floors; the README says what fails there;
- lint: ruff, mypy --strict, and a Python 3.8 check of the package source (vermin);
- package: build the sdist and wheel, check them, and try the wheel away from the source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import nox

nox.options.sessions = ["lint", "pythons", "package"]  # tests-legacy-3.8 only by name
nox.options.reuse_existing_virtualenvs = False
# Python's own venv, whose ensurepip seeds every Python: the newest virtualenv no longer seeds 3.8.
nox.options.default_venv_backend = "venv"

PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]  # what setup.cfg claims, all run
NEWEST = PYTHONS[-1]
PARALLEL = 4  # sessions at once on 2 cores: most of the suite waits on sockets and deadlines

ROOT = Path(__file__).parent
MINIMUM = ROOT / "constraints" / "minimum.txt"
LEGACY = ROOT / "constraints" / "legacy.txt"
SHOW_VERSIONS = (
    "import attr, requests, urllib3; from importlib.util import find_spec; "
    "print('requests', requests.__version__, 'urllib3', urllib3.__version__, "
    "'attrs', attr.__version__, 'cryptography', "
    "__import__('cryptography').__version__ if find_spec('cryptography') else None)"
)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy --strict (the package and the benchmarks), and
    vermin for Python 3.8."""
    session.install("-e", ".[test,lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "wechat_openapi", "benchmarks")
    session.run(
        "vermin", "--target=3.8-", "--violations", "--eval-annotations",
        "--backport", "typing", "--backport", "enum", "--no-tips", "wechat_openapi",
    )  # fmt: skip


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The full suite on the newest requests and attrs this Python allows; the coverage floor
    is enforced on the newest Python only, so a version-specific branch fails no other."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]")
    session.run("python", "-c", SHOW_VERSIONS)
    coverage = [] if session.python == NEWEST else ["--no-cov"]
    session.run("pytest", *coverage, *session.posargs)


def _pinned(session: nox.Session, constraints: Path) -> None:
    """Install exactly the pins of ``constraints``, check them, and run the suite."""
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("pip", "check")
    _run_pinned(session, constraints)


def _run_pinned(session: nox.Session, constraints: Path) -> None:
    pins = dict(line.split("==") for line in constraints.read_text().splitlines() if "==" in line)
    modules = [("requests", "requests"), ("urllib3", "urllib3"), ("attrs", "attr")]
    imports = "import attr, requests, urllib3"
    if "cryptography" in pins:  # the [platform] extra, pinned in minimum.txt only
        modules.append(("cryptography", "cryptography"))
        imports += ", cryptography"
    checks = "; ".join(
        f"assert {module}.__version__ == {pins[name]!r}, {module}.__version__"
        for name, module in modules
        if name in pins
    )
    session.run("python", "-c", f"{imports}; {checks}")
    session.run("python", "-c", SHOW_VERSIONS)
    session.run("pytest", "--no-cov", *session.posargs)


@nox.session(name="tests-minimum", python=[PYTHONS[0], NEWEST])
def tests_minimum(session: nox.Session) -> None:
    """The full suite on exactly the oldest requests and attrs setup.cfg allows."""
    _pinned(session, MINIMUM)


@nox.session(name="tests-legacy", python=PYTHONS[0])
def tests_legacy(session: nox.Session) -> None:
    """The full suite on Ubuntu 20.04's packages: requests 2.22.0, urllib3 1.25.8, attrs
    19.3.0. Below setup.cfg's floors, so the package goes in without its dependencies, and
    the test tools without the extra's floors (responses>=0.23 needs a newer urllib3)."""
    tools = ["pytest", "pytest-cov", "coverage", "responses", "requests-mock", "hypothesis"]
    session.install("-c", str(LEGACY), "requests", "urllib3", "attrs", *tools, "django", "redis")
    session.install("--no-deps", "-e", ".")
    _run_pinned(session, LEGACY)


@nox.session(python=False)
def pythons(session: nox.Session) -> None:
    """Every tests session above, PARALLEL at a time, each in its own nox process with its
    output in .nox/logs; fails, naming them, if any failed (a missing interpreter included)."""
    # The longest first: the newest Python runs under coverage (subprocesses included), and
    # started last it would run alone at the end while the other slots stood idle.
    names = [f"tests-{version}" for version in [NEWEST, *PYTHONS[:-1]]]
    names += [f"tests-minimum-{version}" for version in (PYTHONS[0], NEWEST)]
    logs = ROOT / ".nox" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # CI must fail when an interpreter is missing; a machine without it is told and goes on.
    strict = ["--error-on-missing-interpreters"] if os.environ.get("CI") else []
    command = [sys.executable, "-m", "nox", *strict, "-s"]
    waiting, running, failed = list(names), [], []
    while waiting or running:
        while waiting and len(running) < PARALLEL:
            name = waiting.pop(0)
            log = (logs / f"{name}.log").open("w")
            process = subprocess.Popen([*command, name], stdout=log, stderr=subprocess.STDOUT)
            running.append((name, process, log, time.monotonic()))
        time.sleep(1)
        for entry in list(running):
            name, process, log, started = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            log.close()
            text = (logs / f"{name}.log").read_text(errors="replace")
            if process.returncode != 0:
                outcome = f"FAILED ({process.returncode})"
                failed.append(name)
                print(text[-4000:])
            elif "interpreter" in text and "not found" in text:
                outcome = "SKIPPED: no such interpreter here"
            else:
                outcome = "passed"
            counts = [line.strip("= ") for line in text.splitlines() if " passed" in line]
            session.log(f"{name}: {outcome} in {time.monotonic() - started:.0f} s {counts[-1:]}")
    if failed:
        session.error(f"failed: {', '.join(failed)} (logs in {logs})")


@nox.session
def package(session: nox.Session) -> None:
    """Build, twine check, list the sdist, and smoke-test the wheel in a clean virtualenv:
    import it, run the sandbox demo, and type-check a consumer with mypy --strict."""
    session.install("build", "twine")
    work = Path(session.create_tmp()).resolve()
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    session.run("twine", "check", "--strict", str(sdist), str(wheel))

    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {
        "CHANGELOG.md", "LICENSE", "README.md", "wechat_openapi/py.typed",
        "tests/conftest.py", "tests/test_client_calls.py",
    }  # fmt: skip
    missing = sorted(wanted - names)
    if missing:
        session.error(f"the sdist lacks {missing}")
    session.log(f"the sdist holds {len(names)} entries, including {sorted(wanted)}")

    venv = work / "wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    bin_dir = venv / "bin"
    session.run(str(bin_dir / "pip"), "install", "-q", str(wheel), "mypy==2.4.1", external=True)
    consumer = work / "consumer.py"
    consumer.write_text(CONSUMER)
    with session.chdir(work):  # away from the source tree, so only the wheel can be imported
        session.run(
            str(bin_dir / "python"), "-c",
            "import wechat_openapi, pathlib; "
            "assert 'site-packages' in wechat_openapi.__file__, wechat_openapi.__file__; "
            "assert (pathlib.Path(wechat_openapi.__file__).parent / 'py.typed').exists(); "
            "print('imported', wechat_openapi.__version__, 'from', wechat_openapi.__file__)",
            external=True,
        )  # fmt: skip
        session.run(str(bin_dir / "wechat-openapi"), "--version", external=True)
        session.run(str(bin_dir / "wechat-openapi"), "--sandbox", "demo", external=True)
        session.run(str(bin_dir / "mypy"), "--strict", str(consumer), external=True)


CONSUMER = '''\
"""A user's script: mypy --strict must find the package's types through py.typed."""

from datetime import datetime

from wechat_openapi import Client, NicknameAudit, RidInfo, WeChatError


def invoked_at(client: Client, rid: str) -> datetime:
    info: RidInfo = client.get_rid_info(rid)
    return info.invoke_time


def audit(client: Client) -> NicknameAudit:
    try:
        return client.query_nickname_status(1001)
    except WeChatError as error:
        raise SystemExit(str(error)) from None
'''
