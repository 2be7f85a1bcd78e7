"""Letting objects drop what a forked child must not share with its parent.

A client built before ``os.fork()`` (gunicorn ``--preload``, Celery prefork) is copied into
the child with the parent's pooled sockets and, possibly, a lock another parent thread held.
Objects registered here get ``after_fork_in_child()`` called in the child, once, at fork.
"""

from __future__ import annotations

import os
import weakref
from typing import MutableSet, Protocol


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None:
        """Drop state inherited from the parent process."""


_REGISTERED: MutableSet[ForkAware] = weakref.WeakSet()


def register(obj: ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every child forked while ``obj`` is alive."""
    _REGISTERED.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_REGISTERED):
        obj.after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)
