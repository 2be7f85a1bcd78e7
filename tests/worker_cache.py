"""For the multi-process test workers: Django's Redis cache backend on a given server."""

from __future__ import annotations

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

    return caches["default"]
