"""The server loop's default thread pool, where `asyncio.to_thread()` and
`loop.run_in_executor(None, ...)` run the app's blocking calls.

asyncio's own closing step for that pool, `loop.shutdown_default_executor()`, joins a
helper thread in a `finally`, with no timeout before Python 3.12: even cancelled, it
holds the loop until the pool's last call returns. A call the app left blocked would
keep the server thread from ending, and `stop()` would blame a blocked event loop. This
pool knows which of its calls are still queued or running, so closing the loop waits
for them within its budget and then leaves them to end on their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POLL = 0.005


class ServerThreadPool(concurrent.futures.ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(thread_name_prefix="asyncio")  # the name asyncio gives its own pool's threads
        self._calls: set[concurrent.futures.Future[Any]] = set()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self._calls.add(future)
        # Runs in the worker thread (or here, if the call is already done): set.add and
        # set.discard are atomic, so no lock.
        future.add_done_callback(self._calls.discard)
        return future

    def calls_left(self) -> int:
        """How many calls are still queued or running."""
        return len(self._calls)

    def close(self) -> None:
        """Shut the pool down; wait for its threads only when no call is left: they are
        idle then, and end at once. A thread whose call is still running is left to it."""
        self.shutdown(wait=not self._calls)

    async def drain(self, timeout: float) -> None:
        """Wait at most `timeout` seconds for the calls still queued or running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._calls and loop.time() < deadline:
            await asyncio.sleep(_POLL)
