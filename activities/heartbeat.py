"""Blocking activity work in a thread, heartbeating meanwhile: a worker that dies in the
middle of a step is noticed after the heartbeat timeout, not the step's whole
start-to-close timeout."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from temporalio import activity

HEARTBEAT_EVERY_SEC = 2.0
S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


async def heartbeating(fn: Callable[[], R]) -> R:
    """Run `fn()` in a thread and heartbeat until it returns. Activity context (logger,
    info) stays available in the thread."""
    ctx = contextvars.copy_context()
    task = asyncio.ensure_future(asyncio.to_thread(ctx.run, fn))
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY_SEC)
        if done:
            return task.result()
        activity.heartbeat()


def threaded_activity(
    name: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], Awaitable[R]]]:
    """@activity.defn(name=name) for a blocking method: the activity is async (it holds no
    executor thread of its own) and runs the method in a thread with heartbeats."""

    def wrap(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], Awaitable[R]]:
        # functools.wraps keeps the signature and type hints the SDK reads the input type from.
        @functools.wraps(method)
        async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> R:
            return await heartbeating(functools.partial(method, self, *args, **kwargs))

        return activity.defn(name=name)(run)

    return wrap
