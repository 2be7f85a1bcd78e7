"""The project's environments as nox sessions: ``nox`` runs them all (as CI does), and
``nox -s NAME`` runs one. Each session builds its own fresh virtualenv.

- tests: the full suite on the newest releases of requests and attrs;
- tests-minimum: the full suite on the oldest releases setup.cfg allows;
- lint: ruff, mypy --strict, and a Python 3.8 check of the package source (vermin);
- package: build the sdist and wheel, check them, and try the wheel away from the source.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "tests-minimum", "package"]
nox.options.reuse_existing_virtualenvs = False

ROOT = Path(__file__).parent
MINIMUM = ROOT / "constraints" / "minimum.txt"
SHOW_VERSIONS = (
    "import attr, requests, urllib3; print('requests', requests.__version__, "
    "'urllib3', urllib3.__version__, 'attrs', attr.__version__)"
)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy --strict, and vermin for Python 3.8."""
    session.install("-e", ".[test,lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "--strict", "wechat_openapi")
    session.run(
        "vermin", "--target=3.8-", "--violations", "--eval-annotations",
        "--backport", "typing", "--backport", "enum", "--no-tips", "wechat_openapi",
    )  # fmt: skip


@nox.session
def tests(session: nox.Session) -> None:
    """The full test suite on the newest releases of requests and attrs."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[test]")
    session.run("python", "-c", SHOW_VERSIONS)
    session.run("pytest", *session.posargs)


@nox.session(name="tests-minimum")
def tests_minimum(session: nox.Session) -> None:
    """The full test suite on exactly the oldest requests and attrs that setup.cfg allows."""
    session.install("-c", str(MINIMUM), "-e", ".[test]")
    session.run("pip", "check")
    pins = dict(line.split("==") for line in MINIMUM.read_text().splitlines() if "==" in line)
    session.run(
        "python", "-c",
        "import attr, requests; "
        f"assert requests.__version__ == {pins['requests']!r}, requests.__version__; "
        f"assert attr.__version__ == {pins['attrs']!r}, attr.__version__",
    )  # fmt: skip
    session.run("python", "-c", SHOW_VERSIONS)
    session.run("pytest", *session.posargs)


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
