"""Where deciding runs: in worker threads, never on the event loop, in two bounded lanes.

Deciding is CPU work (milliseconds for a typical proposal, more for a long text). On the event loop
it would hold every other request, health checks and admin reloads included, for as long as it
takes. Here single proposals take one lane (`decide_threads` at once) and batch items another
(`batch_threads` at once, shared by every batch, taken item slice by item slice), so that:
  * the event loop only parses, validates and answers; /healthz never waits behind a decision;
  * a batch cannot take the threads that single requests need, nor they a batch's;
  * batches take turns: each slice queues for the lane anew (the lane is first come, first served),
    so a second batch starts after at most one slice of the first, not after all of it;
  * a reload runs in the default thread pool, outside both lanes.
The lanes' limiters are made per event loop on first use (a TestClient runs a loop of its own).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")
BATCH_SLICE = 8  # batch items decided per trip to a worker thread: few trips, short turns


class Lanes:
    """The two bounded lanes of worker threads that decisions run in."""

    def __init__(self, decide_threads: int, batch_threads: int) -> None:
        self.sizes = {"single": decide_threads, "batch": batch_threads}
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, CapacityLimiter]] = (
            weakref.WeakKeyDictionary()
        )

    def limiter(self, lane: str) -> CapacityLimiter:
        """The lane's limiter on the running event loop."""
        loop = asyncio.get_running_loop()
        found = self._limiters.get(loop)
        if found is None:
            found = self._limiters[loop] = {name: CapacityLimiter(size) for name, size in self.sizes.items()}
        return found[lane]

    async def single(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) in a worker thread of the single-proposal lane."""
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter("single"))

    async def batch(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) in a worker thread of the batch lane (call it once per slice of items)."""
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter("batch"))


def lanes_of(app_state: Any) -> Lanes:
    """The app's lanes (set by create_app on app.state)."""
    lanes: Lanes = app_state.lanes
    return lanes
