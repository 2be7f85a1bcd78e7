"""The ``wechat_fake`` pytest fixture: a running :class:`FakeWeChat`, fresh for each test.

Enable it with one line in ``conftest.py``::

    pytest_plugins = ["wechat_openapi.testing.pytest_plugin"]
"""

from __future__ import annotations

from typing import Iterator

import pytest

from . import FakeWeChat


@pytest.fixture
def wechat_fake() -> Iterator[FakeWeChat]:
    """A fake WeChat on 127.0.0.1, stopped (and its connections closed) after the test."""
    with FakeWeChat() as fake:
        yield fake
