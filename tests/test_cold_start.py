"""A cron script's ``import wechat_openapi; Client(access_token=...)`` loads only what a
fixed-token client needs; every public name still resolves, on first use."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from typing import List

import attr
import pytest

import wechat_openapi
import wechat_openapi.models
import wechat_openapi.platform

COLD_START = (
    "import json, sys, wechat_openapi; "
    "wechat_openapi.Client(access_token='x', base_url='http://127.0.0.1:9'); "
    "print(json.dumps(sorted(sys.modules)))"
)


@pytest.fixture(scope="module")
def loaded_at_cold_start() -> List[str]:
    """The modules a fresh interpreter holds after importing and building a plain Client."""
    run = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    modules: List[str] = json.loads(run.stdout)
    assert "wechat_openapi.client" in modules  # the probe saw the import it was meant to
    return modules


@pytest.mark.parametrize(
    "module",
    [
        "wechat_openapi.platform",
        "wechat_openapi.stable_token",
        "wechat_openapi._shared_cache",
        "wechat_openapi.testing",
        "wechat_openapi.models",
        "attr",
        "cryptography",
    ],
)
def test_a_fixed_token_client_does_not_load(loaded_at_cold_start: List[str], module: str) -> None:
    assert module not in loaded_at_cold_start


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    code = (
        "import wechat_openapi as w; "
        "missing = [n for n in w.__all__ if getattr(w, n, None) is None]; "
        "assert not missing, missing; "
        "assert set(w.__all__) <= set(dir(w)); "
        "scope = {}; exec('from wechat_openapi import *', scope); "
        "assert set(w.__all__) <= set(scope), set(w.__all__) - set(scope); "
        "from wechat_openapi import ComponentPlatform, StableTokenProvider, RidInfo; "
        "assert ComponentPlatform.__module__.startswith('wechat_openapi.platform'); "
        "assert StableTokenProvider is __import__('wechat_openapi.stable_token', "
        "fromlist=['_']).StableTokenProvider; "
        "print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


@pytest.mark.parametrize("name", wechat_openapi.__all__)
def test_every_public_name_is_the_one_its_module_defines(name: str) -> None:
    value = getattr(wechat_openapi, name)
    if isinstance(value, type):
        module = sys.modules[value.__module__]
        assert getattr(module, value.__qualname__) is value  # what pickle looks up


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        wechat_openapi.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    assert not hasattr(wechat_openapi, "NoSuchName")


ATTRS_CLASSES = sorted(
    {
        value
        for module in (wechat_openapi, wechat_openapi.models, wechat_openapi.platform)
        for value in (getattr(module, name) for name in dir(module))
        if isinstance(value, type) and attr.has(value)
    },
    key=lambda cls: cls.__qualname__,
)


def test_the_attrs_classes_were_found() -> None:
    assert {"RidInfo", "ApiQuota", "AuthorizerInfo", "Push"} <= {
        cls.__name__ for cls in ATTRS_CLASSES
    }


@pytest.mark.parametrize("cls", ATTRS_CLASSES, ids=lambda cls: cls.__name__)
def test_the_type_hints_of_every_exported_model_resolve(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    assert {field.name for field in attr.fields(cls)} <= set(hints)
