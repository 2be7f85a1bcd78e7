"""For the multi-process test workers: Django's Redis cache backend on a given server, and
the start signal that releases them together."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import django
from django.conf import settings


def redis_cache(redis_url: str) -> Any:
    """Configure Django with one Redis cache at ``redis_url`` and return it."""
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

    cache = caches["default"]
    cache.get("warm-up")  # connect now, before the start signal, not in the first call
    return cache


def ready_then_wait(start: str) -> None:
    """Say this worker is ready (a file ``START.<pid>.ready``), then wait until the test
    creates ``START``: every worker is set up before any calls, however slow the machine."""
    Path(f"{start}.{os.getpid()}.ready").touch()
    give_up = time.monotonic() + 120
    while not os.path.exists(start):
        if time.monotonic() > give_up:
            raise SystemExit("the test never gave the start signal")
        time.sleep(0.01)
