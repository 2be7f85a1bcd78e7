"""One process of the shared-platform test: Django's Redis cache, a ComponentPlatform, CALLS
calls spread over the accounts from INDEX on, then one line of JSON with the answers.
Arguments: REDIS_URL FAKE_URL COMPONENT_APPID SECRET TICKET STORE_JSON INDEX CALLS START.
"""

from __future__ import annotations

import json
import sys
from typing import Dict, Optional

from worker_cache import ready_then_wait, redis_cache  # beside this script


class FileStore:
    """The refresh tokens every process reads (the fake does not rotate them here)."""

    def __init__(self, path: str) -> None:
        with open(path) as source:
            self.tokens: Dict[str, str] = json.load(source)

    def load(self, authorizer_appid: str) -> Optional[str]:
        return self.tokens.get(authorizer_appid)

    def save(self, authorizer_appid: str, refresh_token: str) -> None:
        self.tokens[authorizer_appid] = refresh_token


def main(
    redis_url: str,
    fake_url: str,
    component_appid: str,
    secret: str,
    ticket: str,
    store_path: str,
    index: str,
    calls: str,
    start: str,
) -> None:
    from wechat_openapi import ComponentPlatform

    store = FileStore(store_path)
    appids = sorted(store.tokens)
    platform = ComponentPlatform(
        component_appid,
        secret,
        refresh_tokens=store,
        cache=redis_cache(redis_url),
        base_url=fake_url,
    )
    platform.set_verify_ticket(ticket)  # each process's callback view may receive a push
    ready_then_wait(start)  # all processes start together
    first = int(index) * int(calls)
    answers = {}
    for offset in range(int(calls)):
        appid = appids[(first + offset) % len(appids)]
        answers[appid] = platform.client(appid).get_open_account().open_appid
    platform.close()
    print(json.dumps({"answers": answers}))


if __name__ == "__main__":
    main(*sys.argv[1:])
