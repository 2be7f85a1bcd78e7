"""Shared fixtures: a sentinel token, a mocked WeChat (responses), and clients that never sleep."""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable, Iterator

import pytest
import responses

from tests.scripted_server import ScriptedServer
from wechat_openapi import Client

# Every mocked test talks to a loopback address that refuses connections, so a request the
# mock failed to catch can never reach WeChat.
MOCK_BASE = "http://127.0.0.1:9"
TOKEN = "SENTINEL" + secrets.token_hex(24)

MakeClient = Callable[..., Client]


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff delays the client asked to sleep, recorded instead of slept."""
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[MakeClient]:
    """Build clients against the mock (or any base_url) whose backoff is recorded, not slept."""
    made: list[Client] = []

    def make(**options: Any) -> Client:
        if "token_provider" not in options:
            options.setdefault("access_token", TOKEN)
        options.setdefault("base_url", MOCK_BASE)
        client = Client(**options)
        client._transport.sleep = sleeps.append
        client._transport.backoff = lambda retry: 0.01 * retry
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    return make_client()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def answer(
    mock: responses.RequestsMock, path: str, payload: dict[str, Any], status: int = 200
) -> None:
    """Queue one JSON answer for ``path`` (queued answers are used in order)."""
    mock.add(responses.POST, MOCK_BASE + path, body=json.dumps(payload), status=status)
