"""One execution environment = one event loop: loop identity, loop-bound clients, threads.

DESIGN.md section 2: the adapter keeps ONE event loop for the life of the environment, so clients
bound to it at startup keep working; it works when called from a thread that already runs an
event loop; it emits no DeprecationWarning; it creates no loop, thread or task group per
invocation. Section 1: invalid options raise ``ConfigurationError`` naming the option.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio

from mangum_like import ConfigurationError, Mangum
from mangum_like._types import Receive, Scope, Send

from .helpers import Context, Recorder, load_event

EVENT = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"

MakeHandler = Callable[..., Mangum]


def invoke(handler: Mangum) -> dict[str, Any]:
    result: dict[str, Any] = handler(load_event(EVENT), Context())
    return result


async def respond(send: Send, body: bytes = b"ok") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def current_loop(backend: str) -> object:
    """The identity of the running event loop: the asyncio loop, or trio's root task."""
    if backend == "asyncio":
        return asyncio.get_running_loop()
    return trio.lowlevel.current_root_task()


def count_tasks(backend: str) -> int:
    """How many tasks the running loop has."""
    if backend == "asyncio":
        return len(asyncio.all_tasks())
    root = trio.lowlevel.current_root_task()
    assert root is not None
    count, pending = 0, [root]
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


class LoopRecorder:
    """Records the loop its lifespan and every request run on, and the state each request sees."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.startups = 0
        self.lifespan_loop: object = None
        self.token = object()
        self.request_loops: list[object] = []
        self.states: list[dict[str, Any]] = []
        self.task_counts: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            self.startups += 1
            self.lifespan_loop = current_loop(self.backend)
            scope["state"]["token"] = self.token
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await anyio.lowlevel.checkpoint()  # as Starlette and FastAPI do: anyio in every request
        self.request_loops.append(current_loop(self.backend))
        self.task_counts.append(count_tasks(self.backend))
        self.states.append(scope["state"])
        await receive()
        await respond(send)

    def assert_one_loop_and_one_lifespan(self, invocations: int) -> None:
        assert self.startups == 1
        assert self.lifespan_loop is not None
        assert len(self.request_loops) == invocations
        assert all(loop is self.lifespan_loop for loop in self.request_loops)
        assert [state["token"] for state in self.states] == [self.token] * invocations


class TestOneLoop:
    def test_every_invocation_runs_on_the_lifespan_loop(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = LoopRecorder(backend)
        handler = make_handler(app, backend=backend)

        for _ in range(3):
            assert invoke(handler)["statusCode"] == 200

        app.assert_one_loop_and_one_lifespan(3)

    def test_asyncio_client_bound_at_startup_keeps_working(self, make_handler: MakeHandler) -> None:
        clients: list[AsyncioClient] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                client = AsyncioClient()
                clients.append(client)
                scope["state"]["client"] = client
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
            client = scope["state"]["client"]
            results: list[int] = []

            async def call(value: int) -> None:
                results.append(await client.call(value))

            # Two concurrent calls contend for the lock, which binds it to the running loop.
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, 1)
                tg.start_soon(call, 2)
            await receive()
            await respond(send, repr(sorted(results)).encode())

        handler = make_handler(app, "on", backend="asyncio")

        bodies = [invoke(handler)["body"] for _ in range(4)]

        assert bodies == ["[2, 4]"] * 4
        assert len(clients) == 1
        assert clients[0].calls == 8

    def test_trio_lock_and_channel_made_at_startup_keep_working(
        self, make_handler: MakeHandler
    ) -> None:
        clients: list[TrioClient] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                client = TrioClient()
                clients.append(client)
                scope["state"]["client"] = client
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.serve)
                    await send({"type": "lifespan.startup.complete"})
                    await receive()
                    nursery.cancel_scope.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
            client = scope["state"]["client"]
            assert trio.lowlevel.current_trio_token() is client.token
            results: list[int] = []

            async def call(value: int) -> None:
                results.append(await client.call(value))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, 1)
                nursery.start_soon(call, 2)
            await receive()
            await respond(send, repr(sorted(results)).encode())

        handler = make_handler(app, "on", backend="trio")

        bodies = [invoke(handler)["body"] for _ in range(4)]

        assert bodies == ["[2, 4]"] * 4
        assert len(clients) == 1
        assert clients[0].calls == 8


class AsyncioClient:
    """Bound to the loop that made it, as an asyncpg pool or an httpx ``AsyncClient`` is.

    A worker task owns the connection; calls are queued to it and answered through futures of
    the startup loop. On another loop, awaiting such a future raises "attached to a different
    loop", and the lock, once contended, is bound to its first loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()
        self.queue: asyncio.Queue[tuple[int, asyncio.Future[int]]] = asyncio.Queue()
        self.worker = self.loop.create_task(self.serve())
        self.calls = 0

    async def serve(self) -> None:
        while True:
            value, future = await self.queue.get()
            self.calls += 1
            future.set_result(value * 2)

    async def call(self, value: int) -> int:
        async with self.lock:
            future: asyncio.Future[int] = self.loop.create_future()
            self.queue.put_nowait((value, future))
            return await asyncio.wait_for(future, 5)  # a guard against a hang

    async def aclose(self) -> None:
        self.worker.cancel()
        await asyncio.wait([self.worker])


class TrioClient:
    """trio's equivalent: a lock and a channel to a worker task in the lifespan's nursery."""

    def __init__(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.lock = trio.Lock()
        self.sender, self.receiver = trio.open_memory_channel[tuple[int, trio.Event, list[int]]](0)
        self.calls = 0

    async def serve(self) -> None:
        async with self.receiver:
            async for value, done, out in self.receiver:
                self.calls += 1
                out.append(value * 2)
                done.set()

    async def call(self, value: int) -> int:
        async with self.lock:
            done, out = trio.Event(), list[int]()
            with trio.fail_after(5):  # a guard against a hang
                await self.sender.send((value, done, out))
                await done.wait()
            return out[0]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The event loop the calling thread already runs (the test's own)."""
    value: str = request.param
    return value


class TestCalledFromARunningLoop:
    @pytest.mark.anyio
    async def test_handler_works_inside_a_running_loop(
        self, anyio_backend: str, backend: str, make_handler: MakeHandler
    ) -> None:
        app = LoopRecorder(backend)
        handler = make_handler(app, backend=backend)

        results = [invoke(handler) for _ in range(3)]

        assert [result["statusCode"] for result in results] == [200] * 3
        app.assert_one_loop_and_one_lifespan(3)

    def test_first_call_in_sync_code_then_inside_a_running_asyncio_loop(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = LoopRecorder(backend)
        handler = make_handler(app, backend=backend)
        assert invoke(handler)["statusCode"] == 200

        async def inside_a_loop() -> int:
            status: int = invoke(handler)["statusCode"]
            return status

        assert asyncio.run(inside_a_loop()) == 200
        assert invoke(handler)["statusCode"] == 200  # and back in sync code

        app.assert_one_loop_and_one_lifespan(3)

    def test_first_call_in_sync_code_then_inside_a_running_trio_loop(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = LoopRecorder(backend)
        handler = make_handler(app, backend=backend)
        assert invoke(handler)["statusCode"] == 200

        async def inside_a_loop() -> int:
            status: int = invoke(handler)["statusCode"]
            return status

        assert trio.run(inside_a_loop) == 200
        assert invoke(handler)["statusCode"] == 200

        app.assert_one_loop_and_one_lifespan(3)


class TestNoWarnings:
    def test_full_cycle_emits_no_warning(self, backend: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            app = Recorder(lifespan_state={"ready": True})
            handler = Mangum(app, backend=backend)
            handler.startup()
            assert invoke(handler)["statusCode"] == 200
            assert invoke(handler)["statusCode"] == 200
            handler.shutdown()
            with Mangum(app, backend=backend) as second:
                assert invoke(second)["statusCode"] == 200
            gc.collect()  # an unclosed loop would warn when collected

        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"] * 2

    def test_cycle_inside_a_running_loop_emits_no_warning(self, backend: str) -> None:
        app = Recorder()

        async def cycle() -> None:
            handler = Mangum(app, backend=backend)
            assert invoke(handler)["statusCode"] == 200
            assert invoke(handler)["statusCode"] == 200
            handler.shutdown()

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            asyncio.run(cycle())
            gc.collect()

        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]


class TestCost:
    def test_no_thread_loop_or_task_per_invocation(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = LoopRecorder(backend)
        handler = make_handler(app, backend=backend)
        before = threading.active_count()

        invoke(handler)
        after_first = threading.active_count()
        counts = []
        for _ in range(20):
            invoke(handler)
            counts.append(threading.active_count())

        assert counts == [after_first] * 20
        if backend == "asyncio":
            # In the main thread the loop runs in the calling thread: no thread at all.
            assert after_first == before
            # The lifespan task and the invocation's own task, nothing else.
            assert app.task_counts == [2] * 21
        assert app.task_counts == [app.task_counts[0]] * 21
        app.assert_one_loop_and_one_lifespan(21)


@pytest.mark.parametrize(
    ("options", "option", "choices"),
    [
        pytest.param({"lifespan": "maybe"}, "lifespan", ("auto", "on", "off"), id="lifespan"),
        pytest.param({"backend": "curio"}, "backend", ("asyncio", "trio"), id="backend"),
        pytest.param({"api_gateway_base_path": 3}, "api_gateway_base_path", (), id="base-path"),
        pytest.param({"text_mime_types": "text/csv"}, "text_mime_types", (), id="text-types"),
        pytest.param({"exclude_headers": [1]}, "exclude_headers", (), id="exclude-headers"),
        pytest.param({"startup_timeout": 0}, "startup_timeout", (), id="startup-timeout"),
        pytest.param({"shutdown_timeout": -1}, "shutdown_timeout", (), id="shutdown-timeout"),
        pytest.param({"custom_handlers": [object()]}, "custom_handlers", (), id="custom-handlers"),
        pytest.param({"app": None}, "app", (), id="app"),
    ],
)
def test_invalid_option_raises_configuration_error(
    options: dict[str, Any], option: str, choices: tuple[str, ...]
) -> None:
    kwargs: dict[str, Any] = {"app": Recorder(), **options}

    with pytest.raises(ConfigurationError) as info:
        Mangum(**kwargs)

    message = str(info.value)
    assert re.search(rf"\b{option}\b", message), message
    for choice in choices:
        assert repr(choice) in message
