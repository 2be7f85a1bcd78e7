"""One process of the shared-token tests: Django's Redis cache, Client.from_stable_token, CALLS
calls, then one line of JSON with the answers (or the error that ended them) and the seconds
taken. Arguments: REDIS_URL FAKE_URL APPID SECRET CALLS START DEADLINE READ_TIMEOUT.
"""

from __future__ import annotations

import json
import sys
import time
from typing import List, Optional

from worker_cache import ready_then_wait, redis_cache  # beside this script


def main(
    redis_url: str,
    fake_url: str,
    appid: str,
    secret: str,
    calls: str,
    start: str,
    deadline: str,
    read_timeout: str,
) -> None:
    from wechat_openapi import Client, WeChatError

    client = Client.from_stable_token(
        appid,
        secret,
        cache=redis_cache(redis_url),
        base_url=fake_url,
        deadline=float(deadline),
        timeout=(5, float(read_timeout)),
    )
    ready_then_wait(start)  # all processes start together
    started = time.monotonic()
    answers: List[str] = []
    error: Optional[str] = None
    try:
        for _ in range(int(calls)):
            answers.append(client.get_open_account().open_appid)
    except WeChatError as failure:
        error = type(failure).__name__
    elapsed = time.monotonic() - started
    client.close()
    print(json.dumps({"answers": answers, "error": error, "elapsed": elapsed}))


if __name__ == "__main__":
    main(*sys.argv[1:])
