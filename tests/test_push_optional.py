"""Push crypto without ``cryptography`` (an optional extra): the core imports, the keys
validate, and decrypting or encrypting names the extra to install. Runs with or without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from wechat_openapi.errors import MissingDependencyError, WeChatError
from wechat_openapi.platform._crypto import decrypt, encrypt, push_keys
from wechat_openapi.testing._pushes import build_push

ROOT = Path(__file__).resolve().parent.parent
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
KEYS = push_keys("token", AES_KEY, "wxapp")
EXTRA = 'pip install "wechat-openapi[platform]"'


@pytest.fixture
def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cryptography`` made unimportable, its loaded modules included (None in sys.modules
    makes an import raise ImportError)."""
    for name in [name for name in sys.modules if name.split(".")[0] == "cryptography"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "cryptography", None)


@pytest.mark.usefixtures("without_cryptography")
@pytest.mark.parametrize(
    "call",
    [
        lambda: decrypt("AAAAAAAAAAAAAAAAAAAAAA==", KEYS),
        lambda: encrypt(b"<xml/>", KEYS),
        lambda: build_push(
            [("CreateTime", "1")], push_token="t", encoding_aes_key=AES_KEY, appid="a"
        ),
    ],
    ids=["decrypt", "encrypt", "build_push"],
)
def test_without_cryptography_the_crypto_names_the_extra(call: Any) -> None:
    with pytest.raises(MissingDependencyError) as caught:
        call()
    assert EXTRA in str(caught.value)
    assert isinstance(caught.value, ImportError)
    assert isinstance(caught.value, WeChatError)
    assert caught.value.__context__ is None
    push_keys("token", AES_KEY, "wxapp")  # the keys still validate


BLOCKED = textwrap.dedent(
    """
    import sys

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "cryptography":
                raise ImportError("cryptography is blocked for this test")
            return None

    sys.meta_path.insert(0, Refuse())

    import wechat_openapi
    from wechat_openapi import Client, MissingDependencyError
    from wechat_openapi.platform import _crypto, _push
    import wechat_openapi.testing
    from wechat_openapi.testing import _pushes

    Client(access_token="unused").close()
    key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    keys = _crypto.push_keys("token", key, "wxapp")
    try:
        _crypto.push_keys("token", key[:42], "wxapp")
    except ValueError as error:
        print("validated:", error)
    calls = (
        lambda: _crypto.decrypt("AAAAAAAAAAAAAAAAAAAAAA==", keys),
        lambda: _pushes.build_push(
            [("CreateTime", "1")], push_token="token", encoding_aes_key=key, appid="wxapp"
        ),
    )
    for call in calls:
        try:
            call()
        except MissingDependencyError as error:
            print("refused:", error)
    assert "cryptography" not in sys.modules, sorted(sys.modules)
    """
)


def test_the_core_imports_and_validates_keys_without_cryptography() -> None:
    """In a fresh interpreter whose imports of cryptography fail: the package, its platform
    and testing modules import, push_keys validates, and the crypto names the extra."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("validated: encoding_aes_key must be 43 characters")
    assert len(lines) == 3
    for line in lines[1:]:
        assert line.startswith("refused: ")
        assert EXTRA in line
