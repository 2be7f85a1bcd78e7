"""One process of the shared-token test: Django's Redis cache, Client.from_stable_token,
CALLS calls, then one line of JSON. Arguments: REDIS_URL FAKE_URL APPID SECRET CALLS START_AT.
"""

from __future__ import annotations

import json
import sys
import time

import django
from django.conf import settings


def main(redis_url: str, fake_url: str, appid: str, secret: str, calls: str, start_at: str) -> None:
    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
            }
        }
    )
    django.setup()
    from django.core.cache import caches

    from wechat_openapi import Client

    client = Client.from_stable_token(appid, secret, cache=caches["default"], base_url=fake_url)
    time.sleep(max(0.0, float(start_at) - time.time()))  # all processes start together
    answers = [client.get_open_account().open_appid for _ in range(int(calls))]
    client.close()
    print(json.dumps({"answers": answers}))


if __name__ == "__main__":
    main(*sys.argv[1:])
