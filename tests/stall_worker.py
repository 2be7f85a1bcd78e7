"""One process of the stalled-token-endpoint test: Django's Redis cache and
Client.from_stable_token; one call to warm up, then CALLS calls once the start signal comes,
then one more call once the after-signal comes. Only the calls during the stall have the
DEADLINE; the warm-up and the call after the stall have a patient one, so that a busy machine
cannot fail them by its slowness (what they check is the token, not the speed). Prints one
line of JSON: the outcome of each call (the answer, or the error's class name). Arguments:
REDIS_URL FAKE_URL APPID SECRET CALLS DEADLINE START AFTER.
"""

from __future__ import annotations

import json
import sys
from typing import List

from worker_cache import ready_then_wait, redis_cache  # beside this script

PATIENT = 60.0  # seconds: the deadline of the calls outside the stall


def main(
    redis_url: str,
    fake_url: str,
    appid: str,
    secret: str,
    calls: str,
    deadline: str,
    start: str,
    after: str,
) -> None:
    from wechat_openapi import Client, WeChatError

    client = Client.from_stable_token(
        appid, secret, cache=redis_cache(redis_url), base_url=fake_url, deadline=float(deadline)
    )

    patient = client.with_options(deadline=PATIENT)

    def outcome(caller: Client) -> str:
        try:
            return caller.get_open_account().open_appid
        except WeChatError as error:
            return type(error).__name__

    warm = outcome(patient)
    ready_then_wait(start)
    during: List[str] = [outcome(client) for _ in range(int(calls))]
    ready_then_wait(after)
    print(json.dumps({"warm": warm, "during": during, "after": outcome(patient)}))
    client.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
