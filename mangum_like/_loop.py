"""The one event loop of a Lambda execution environment.

An environment serves many invocations, one at a time, and keeps its memory between them, so
the loop made at the first invocation serves them all: clients bound to it at startup keep
working. On asyncio the loop runs in the calling thread while an invocation runs (nothing is
spent on hand-offs). When the calling thread already runs a loop of its own (pytest-asyncio,
notebooks), or for trio, the loop lives in one daemon thread for the life of the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._http import HTTPCycle
    from ._types import ASGIApp, Event, Runtime, Scope

T = TypeVar("T")

_get_running_loop = asyncio._get_running_loop  # C-accelerated; None outside a running loop
_get_ident = threading.get_ident
_modules = sys.modules
_NEVER = float("inf")


def _in_foreign_loop() -> bool:
    """Whether this thread runs another async library's loop (trio marks its thread in sniffio)."""
    sniffio = sys.modules.get("sniffio")
    return sniffio is not None and getattr(sniffio.thread_local, "name", None) is not None


class AsyncioRuntime:
    """One asyncio loop, driven from the calling thread or, when that is busy, from one thread."""

    __slots__ = (
        "armed",
        "busy",
        "clock",
        "guard",
        "in_flight",
        "loop",
        "moving",
        "owner",
        "thread",
    )

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        # The invocations running on the loop, each with its deadline in loop time, and the
        # deadline guard's one timer that serves them all (on the calling thread's loop).
        self.in_flight: set[HTTPCycle] = set()
        self.guard: asyncio.TimerHandle | None = None
        self.armed = _NEVER  # when the guard fires (its when(), without the method call)
        self.clock: Callable[[], float] = time.monotonic  # the loop's time(), see _loop()
        # The loop runs in the calling thread only in the thread that made it (``owner``),
        # which marks itself ``busy`` while it does. A call from any other thread (a wrapper
        # called by several pollers of the runtime, the user's own threads) moves the loop to a
        # thread of its own for good, once the owner is not busy: from then on every caller
        # hands its work to that thread and waits for it. The two sides publish first and look
        # second (busy, then thread; thread, then busy), so that one of them always sees the
        # other; a lock would cost the per-invocation path several times as much.
        self.owner: int | None = None
        self.busy = False
        self.moving = threading.Lock()

    def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        return self._run(fn(*args))

    def run_app(
        self, app: ASGIApp, scope: Scope, cycle: HTTPCycle, budget: float | None, grace: float
    ) -> None:
        # The per-invocation path, paid on every call: no method call that can be saved.
        loop = self.loop
        if (
            loop is None
            or self.thread is not None
            or _get_ident() != self.owner
            or _get_running_loop() is not None
        ):
            self._run_app_elsewhere(app, scope, cycle, budget, grace)
            return
        sniffio = _modules.get("sniffio")  # a trio run in this thread (_in_foreign_loop)
        if sniffio is not None and getattr(sniffio.thread_local, "name", None) is not None:
            self._run_app_elsewhere(app, scope, cycle, budget, grace)
            return
        self.busy = True
        if self.thread is not None:  # another thread is moving the loop to its own
            self.busy = False
            self._run_app_elsewhere(app, scope, cycle, budget, grace)
            return
        # The task stops the loop itself when the app returns: run_until_complete would spend
        # a second pass of the loop (a select() call among others) on a done-callback. This
        # needs the task to take its first step, which nothing here can prevent: the guard
        # cancels only from a timer or a call_soon, which run after that step.
        task = cycle.task = loop.create_task(_run_and_stop(app, scope, cycle, loop.stop))
        in_flight = self.in_flight
        in_flight.add(cycle)
        if budget is not None:
            # Arming and cancelling a timer per invocation would cost more than the rest of
            # the guard together; one timer serves them all instead: when it fires, it cuts
            # short the requests in flight whose deadline has come, and re-arms for the nearest
            # other one.
            deadline = cycle.deadline = self.clock() + budget
            # Deadlines grow from one invocation to the next (now + the function's timeout), so
            # the timer armed earlier fires first; only a nearer deadline needs a new one.
            if deadline < self.armed:
                guard = self.guard
                if guard is not None:
                    guard.cancel()
                self.guard = loop.call_at(deadline, self._on_guard, grace)
                self.armed = deadline
        try:
            while not task.done():  # stopped early only if the app itself stops the loop
                loop.run_forever()
            task.result()
        except asyncio.CancelledError:
            if not cycle.expired:
                raise
        finally:
            self.busy = False
            in_flight.discard(cycle)
            if cycle.timer is not None:
                cycle.timer.cancel()

    def _on_guard(self, grace: float) -> None:
        self.guard = None
        self.armed = _NEVER
        loop = self.loop
        if loop is None:
            return
        # Cut short every invocation whose deadline has come; re-arm for the nearest other one.
        # None in flight: between invocations (a lifespan call), the next invocation re-arms.
        now = loop.time()
        nearest = _NEVER
        for cycle in list(self.in_flight):
            deadline = getattr(cycle, "deadline", _NEVER)  # set only with a budget
            if deadline <= now:
                _expire(loop, cycle, grace)
            elif deadline < nearest:
                nearest = deadline
        if nearest < _NEVER:
            self.guard = loop.call_at(nearest, self._on_guard, grace)
            self.armed = nearest

    def _run_app_elsewhere(
        self, app: ASGIApp, scope: Scope, cycle: HTTPCycle, budget: float | None, grace: float
    ) -> None:
        loop = self._loop()
        if self._drives_here():
            if _get_ident() == self.owner:  # the first use of the loop, by its owner
                self.run_app(app, scope, cycle, budget, grace)
                return
            self._move_to_thread(loop)
        elif self.thread is None:
            self._start_thread(loop)
        # The app runs in a copy of the caller's context, as a task of the caller's own loop
        # would: context variables set by the code that calls the handler are seen inside.
        future = _caller_context().run(
            asyncio.run_coroutine_threadsafe, _call_tracked(app, scope, cycle), loop
        )
        in_flight = self.in_flight
        in_flight.add(cycle)
        try:
            try:
                future.result(budget)
            except FutureTimeout:
                loop.call_soon_threadsafe(_expire, loop, cycle, grace)
                future.result()
        except (asyncio.CancelledError, FutureCancelled):
            if not cycle.expired:
                raise
        finally:
            in_flight.discard(cycle)
            if cycle.timer is not None:
                loop.call_soon_threadsafe(cycle.timer.cancel)

    def expire(self, cycle: HTTPCycle, grace: float) -> None:
        loop = self.loop
        if loop is not None:
            loop.call_soon_threadsafe(_expire, loop, cycle, grace)

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing left to tell
                loop.call_soon_threadsafe(fn, *args)

    def running_here(self) -> bool:
        loop = self.loop
        return loop is not None and self.thread is None and loop.is_running()

    new_event = asyncio.Event

    async def wait(self, event: Event, seconds: float | None) -> bool:
        if seconds is None:
            await event.wait()
            return True
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
            return False
        return True

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.new_event_loop()
            self.owner = _get_ident()
            # asyncio's loops keep time with time.monotonic(); calling it directly saves the
            # deadline guard a method call per invocation. Any other loop is asked itself.
            if type(loop).time is not asyncio.BaseEventLoop.time:
                self.clock = loop.time
        return loop

    def _drives_here(self) -> bool:
        """Whether the calling thread may run the loop: it has no thread, and no other loop runs."""
        return self.thread is None and _get_running_loop() is None and not _in_foreign_loop()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop()
        if self._drives_here():
            if _get_ident() == self.owner:
                self.busy = True
                try:
                    if self.thread is None:
                        return loop.run_until_complete(coro)
                finally:
                    self.busy = False
            else:
                self._move_to_thread(loop)
        elif self.thread is None:
            self._start_thread(loop)
        # Submitted from a fresh context: the caller's belongs to its own loop (sniffio's
        # marker of a trio caller among its variables), not to this one.
        return Context().run(asyncio.run_coroutine_threadsafe, coro, loop).result()

    def _move_to_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """A thread other than the owner calls in: give the loop a thread of its own, once the
        owner is not driving it."""
        with self.moving:
            if self.thread is None:
                self._start_thread(loop, wait_for_owner=True)

    def _start_thread(self, loop: asyncio.AbstractEventLoop, wait_for_owner: bool = False) -> None:
        # From now on the loop runs in this thread for good: its tasks (the lifespan above
        # all) and the clients bound to it carry on unchanged.
        ready = threading.Event()

        def serve() -> None:
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.close()  # close() may have left it to this thread (close_from_anywhere)

        self.thread = thread = threading.Thread(target=serve, name="mangum_like-loop", daemon=True)
        # Published before the owner is looked at: an owner that marks itself busy from now on
        # sees the thread and hands its invocation over instead.
        while wait_for_owner and self.busy:
            time.sleep(0.0005)
        thread.start()
        ready.wait()

    def detach(self) -> None:
        """Run the loop in a thread of its own from now on, for callers on several threads."""
        if self.thread is None:
            self._move_to_thread(self._loop())

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        loop = self._loop()
        if self.thread is None:
            if not self._drives_here():
                self._start_thread(loop)
            elif _get_ident() != self.owner:  # create_task is for the owner's thread only
                self._move_to_thread(loop)

        async def task() -> Any:
            return await fn()

        if self.thread is None:
            return loop.create_task(task())
        return Context().run(asyncio.run_coroutine_threadsafe, task(), loop)

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
        self.guard = None
        self.armed = _NEVER
        thread = self.thread
        if thread is not None:
            self.thread = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        loop.close()

    def close_from_anywhere(self) -> None:
        """``close``, also from the loop's own thread (a finaliser run by the collector there)."""
        loop, thread = self.loop, self.thread
        if loop is None:
            return
        if thread is threading.current_thread():
            # Joining itself is impossible: let the thread finish the tasks and stop.
            self.loop = self.thread = self.guard = None
            self.armed = _NEVER
            loop.call_soon(_finish_and_stop, loop)
            return
        self.close()


def _caller_context() -> Context:
    """A copy of the calling thread's context for the app, without sniffio's marker of the
    caller's async library (the app runs on the handler's loop, not the caller's)."""
    context = copy_context()
    sniffio = _modules.get("sniffio")
    if sniffio is not None:
        marker = sniffio.current_async_library_cvar
        if context.get(marker) is not None:
            context.run(marker.set, None)
    return context


def _expire(loop: asyncio.AbstractEventLoop, cycle: HTTPCycle, grace: float) -> None:
    # The deadline is near: the app sees http.disconnect now, and is cancelled after ``grace``
    # if it has not returned by then.
    if cycle.expired:
        return
    cycle.disconnect()
    task = cycle.task
    if task is not None and not task.done():
        cycle.timer = loop.call_later(grace, task.cancel)


async def _run_and_stop(
    app: ASGIApp, scope: Scope, cycle: HTTPCycle, stop: Callable[[], None]
) -> None:
    try:
        await app(scope, cycle.receive, cycle.send)
    except BaseException:
        cycle.context = copy_context()
        raise
    finally:
        stop()


async def _call_tracked(app: ASGIApp, scope: Scope, cycle: HTTPCycle) -> None:
    cycle.task = asyncio.current_task()
    try:
        await app(scope, cycle.receive, cycle.send)
    except BaseException:
        cycle.context = copy_context()
        raise


def _finish_and_stop(loop: asyncio.AbstractEventLoop) -> None:
    async def finish() -> None:
        await _finish_tasks()
        loop.stop()

    loop.create_task(finish())


async def _finish_tasks() -> None:
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()


class _TrioTask:
    """A background task on the trio loop; ``cancel`` works from any thread."""

    __slots__ = ("cancelled", "context", "future", "grace", "scope")

    def __init__(self) -> None:
        self.context: Context | None = None  # the task's own, when it raised
        self.future: Future[Any] = Future()
        self.scope: Any = None
        self.cancelled = False
        self.grace: float | None = None  # set when the deadline guard fires before the start


class TrioRuntime:
    """One trio run in a daemon thread; calls reach it through its thread-safe token.

    The token's ``run_sync_soon`` is used rather than ``trio.from_thread``, which refuses to be
    called from a thread that itself runs trio (a handler called inside a trio test).
    """

    __slots__ = ("in_flight", "nursery", "starting", "stop", "thread", "token")

    def __init__(self) -> None:
        self.in_flight: set[HTTPCycle] = set()  # the invocations running on the loop
        self.token: Any = None
        self.nursery: Any = None
        self.stop: Any = None
        self.thread: threading.Thread | None = None
        self.starting = threading.Lock()  # first calls from several threads start one run

    def _start(self) -> None:
        with self.starting:
            if self.token is None:
                self._start_run()

    def _start_run(self) -> None:
        import trio

        ready = threading.Event()

        async def serve() -> None:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                self.stop = trio.Event()
                self.token = trio.lowlevel.current_trio_token()
                ready.set()
                await self.stop.wait()
                nursery.cancel_scope.cancel()

        def main() -> None:
            try:
                trio.run(serve)
            finally:
                ready.set()

        self.thread = threading.Thread(target=main, name="mangum_like-trio", daemon=True)
        self.thread.start()
        ready.wait()

    def new_event(self) -> Event:
        import trio

        return trio.Event()

    async def wait(self, event: Event, seconds: float | None) -> bool:
        import trio

        with trio.move_on_after(float("inf") if seconds is None else seconds):
            await event.wait()
        return event.is_set()

    def _submit(
        self,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        context: Context | None = None,
    ) -> _TrioTask:
        if self.token is None:
            self._start()
        task = _TrioTask()

        async def runner() -> None:
            import trio

            if task.cancelled or not task.future.set_running_or_notify_cancel():
                return
            if context is not None:
                # trio starts a task in a copy of its nursery's context and takes none from
                # the caller: the caller's variables are set in this task's own copy.
                for variable, value in context.items():
                    variable.set(value)
            with trio.CancelScope() as scope:
                task.scope = scope
                if task.grace is not None:
                    scope.deadline = trio.current_time() + task.grace
                try:
                    result = await fn(*args)
                except Exception as exc:
                    task.context = copy_context()
                    task.future.set_exception(exc)
                    return
                except BaseException as exc:  # trio.Cancelled: record it, let trio unwind
                    task.future.set_exception(exc)
                    raise
                task.future.set_result(result)

        self.token.run_sync_soon(self.nursery.start_soon, runner)
        return task

    def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        result: T = self._submit(fn, args).future.result()
        return result

    def run_app(
        self, app: ASGIApp, scope: Scope, cycle: HTTPCycle, budget: float | None, grace: float
    ) -> None:
        task = cycle.task = self._submit(app, (scope, cycle.receive, cycle.send), _caller_context())
        future = task.future
        in_flight = self.in_flight
        in_flight.add(cycle)
        try:
            try:
                future.result(budget)
            except FutureTimeout:
                self.token.run_sync_soon(_trio_expire, cycle, grace)
                future.result()
        except BaseException as exc:
            import trio

            if not (cycle.expired and isinstance(exc, trio.Cancelled)):
                cycle.context = task.context
                raise
        finally:
            in_flight.discard(cycle)

    def expire(self, cycle: HTTPCycle, grace: float) -> None:
        token = self.token
        if token is not None:
            token.run_sync_soon(_trio_expire, cycle, grace)

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        token = self.token
        if token is not None:
            import trio

            with contextlib.suppress(trio.RunFinishedError):  # closed meanwhile
                token.run_sync_soon(fn, *args)

    def running_here(self) -> bool:
        return False  # trio runs in its own thread; the caller only waits for it

    def detach(self) -> None:
        """Start the trio thread now, before several threads may call in at once."""
        if self.token is None:
            self._start()

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        return self._submit(fn, ())

    def cancel(self, handle: Any) -> None:
        handle.cancelled = True
        if handle.scope is not None and self.token is not None:
            self.token.run_sync_soon(handle.scope.cancel)

    def close(self) -> None:
        token, thread = self.token, self.thread
        if token is None or thread is None:
            return
        self.token = self.nursery = self.thread = None
        token.run_sync_soon(self.stop.set)
        thread.join()

    def close_from_anywhere(self) -> None:
        """``close``, also from the trio thread itself (a finaliser run by the collector there)."""
        token, thread = self.token, self.thread
        if token is None or thread is None:
            return
        if thread is threading.current_thread():
            self.token = self.nursery = self.thread = None
            token.run_sync_soon(self.stop.set)  # the run ends, the thread with it
            return
        self.close()


def _trio_expire(cycle: HTTPCycle, grace: float) -> None:
    import trio

    if cycle.expired:
        return
    cycle.disconnect()
    task: _TrioTask = cycle.task
    if task.scope is not None:
        task.scope.deadline = trio.current_time() + grace
    else:
        task.grace = grace


def make_runtime(backend: str) -> Runtime:
    if backend == "asyncio":
        return AsyncioRuntime()
    return TrioRuntime()
