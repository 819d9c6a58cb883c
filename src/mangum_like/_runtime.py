"""The one event loop of a Lambda execution environment.

An environment serves many invocations, one at a time, and keeps its memory between them, so
the loop made at the first invocation serves them all: clients bound to it at startup keep
working. On asyncio the loop runs in the calling thread while an invocation runs (nothing is
spent on hand-offs). When the calling thread already runs a loop of its own (pytest-asyncio,
notebooks), or for trio, the loop lives in one daemon thread for the life of the handler.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from ._types import Runtime

T = TypeVar("T")

_get_running_loop = asyncio._get_running_loop  # C-accelerated; None outside a running loop


class AsyncioRuntime:
    """One asyncio loop, driven from the calling thread or, when that is busy, from one thread."""

    __slots__ = ("loop", "thread")

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        loop = self.loop
        if loop is not None and self.thread is None and _get_running_loop() is None:
            return loop.run_until_complete(fn(*args))
        return self._run_elsewhere(fn(*args))

    def _run_elsewhere(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.new_event_loop()
        if self.thread is None and _get_running_loop() is None:
            return loop.run_until_complete(coro)
        if self.thread is None:
            self._start_thread(loop)
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _start_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        # From now on the loop runs in this thread for good: its tasks (the lifespan above
        # all) and the clients bound to it carry on unchanged.
        ready = threading.Event()

        def serve() -> None:
            loop.call_soon(ready.set)
            loop.run_forever()

        self.thread = threading.Thread(target=serve, name="mangum_like-loop", daemon=True)
        self.thread.start()
        ready.wait()

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.new_event_loop()

        async def task() -> Any:
            return await fn()

        if self.thread is None:
            return loop.create_task(task())
        return asyncio.run_coroutine_threadsafe(task(), loop)

    def cancel(self, handle: Any) -> None:
        if isinstance(handle, asyncio.Task) and self.thread is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(handle.cancel)
        else:
            handle.cancel()

    def close(self) -> None:
        loop = self.loop
        if loop is None:
            return
        self.run(_finish_tasks)
        self.loop = None
        thread = self.thread
        if thread is not None:
            self.thread = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        loop.close()


async def _finish_tasks() -> None:
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()


class PortalRuntime:
    """One anyio event loop (trio, or asyncio on request) in a daemon thread, via a portal."""

    __slots__ = ("backend", "portal", "thread")

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.portal: BlockingPortal | None = None
        self.thread: threading.Thread | None = None

    def _start(self) -> BlockingPortal:
        import anyio
        from anyio.from_thread import BlockingPortal

        ready = threading.Event()
        holder: list[BlockingPortal] = []

        async def serve() -> None:
            async with BlockingPortal() as portal:
                holder.append(portal)
                ready.set()
                await portal.sleep_until_stopped()

        def main() -> None:
            try:
                anyio.run(serve, backend=self.backend)
            finally:
                ready.set()

        self.thread = threading.Thread(target=main, name="mangum_like-loop", daemon=True)
        self.thread.start()
        ready.wait()
        self.portal = holder[0]
        return self.portal

    def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        portal = self.portal or self._start()
        result: T = portal.call(fn, *args)
        return result

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        portal = self.portal or self._start()
        return portal.start_task_soon(fn)

    def cancel(self, handle: Any) -> None:
        handle.cancel()

    def close(self) -> None:
        portal, thread = self.portal, self.thread
        if portal is None or thread is None:
            return
        self.portal = self.thread = None
        portal.call(portal.stop, True)
        thread.join()


def make_runtime(backend: str) -> Runtime:
    if backend == "asyncio":
        return AsyncioRuntime()
    return PortalRuntime(backend)
