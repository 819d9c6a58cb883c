"""One ``Mangum`` called from several threads at once.

Lambda calls a handler from one thread at a time, but a handler is also called from the user's
own threads, and from several pollers of the runtime loop on Lambda Managed Instances. On
asyncio the loop runs in the calling thread; when a second thread calls while one drives it
(the ``driving`` lock of ``AsyncioRuntime``), the loop moves to a thread of its own for good,
and every caller hands its work to it. On trio the loop always has its own thread. Either way
the invocations run concurrently on the one loop, the lifespan starts once, its state is shared,
and log lines carry each invocation's own request id (``mangum_like._lambda.logs.REQUEST_ID``,
which each caller sets in its thread as the runtime loop does).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum
from mangum_like._lambda.logs import REQUEST_ID, setup_logging
from tests.example_events import http_api
from tests.helpers import Context

MakeHandler = Callable[..., Mangum]

THREADS = 8
SLEEP = 0.2  # seconds each request awaits
TOKEN = "threads-token"


class Probe:
    """What the app saw: lifespan startups and shutdowns, and requests in flight at once."""

    def __init__(self) -> None:
        self.startups = 0
        self.shutdowns = 0
        self.in_flight = 0
        self.most_in_flight = 0


def echo_app(probe: Probe, log: logging.Logger) -> Starlette:
    """``/echo?v=X`` logs ``echo X``, awaits ``SLEEP`` s, logs ``done X``, answers ``X token``
    and appends X to the lifespan state's ``seen`` list."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        probe.startups += 1
        yield {"token": TOKEN, "seen": []}
        probe.shutdowns += 1

    async def echo(request: Request) -> PlainTextResponse:
        value = request.query_params["v"]
        log.info("echo %s", value)
        probe.in_flight += 1
        probe.most_in_flight = max(probe.most_in_flight, probe.in_flight)
        try:
            await anyio.sleep(SLEEP)
        finally:
            probe.in_flight -= 1
        request.state.seen.append(value)
        log.info("done %s", value)
        return PlainTextResponse(f"{value} {request.state.token}")

    return Starlette(routes=[Route("/echo", echo)], lifespan=lifespan)


class Collect(logging.Handler):
    """Keeps (the request id seen where the record is handled, the message) of each record."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        self.lock_seen = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        # Handlers run in the thread and context of the logging call: the app's.
        with self.lock_seen:
            self.seen.append((REQUEST_ID.get(), record.getMessage()))


@pytest.fixture
def app_logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"tests.threads.{request.node.name}")
    log.setLevel(logging.INFO)
    # It propagates (pytest attaches its own handlers to a logger that does not).
    assert log.handlers == []
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def call_at_once(
    handler: Mangum, values: list[str], request_ids: list[str] | None = None
) -> tuple[list[Any], float]:
    """Call ``handler`` from one thread per value, released together by a barrier; each sets
    ``REQUEST_ID`` (when ``request_ids`` is given) in its thread first. The results, in order,
    and the seconds from the release to the last answer."""
    results: list[Any] = [None] * len(values)
    errors: list[BaseException] = []
    finished: list[float] = []
    released: list[float] = []
    barrier = threading.Barrier(len(values), action=lambda: released.append(time.monotonic()))

    def call(index: int) -> None:
        try:
            if request_ids is not None:
                REQUEST_ID.set(request_ids[index])
            context = Context()
            context.aws_request_id = request_ids[index] if request_ids else f"ctx-{index}"
            event = http_api("GET", "/echo", query=f"v={values[index]}")
            barrier.wait(5)
            results[index] = handler(event, context)
            finished.append(time.monotonic())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(values))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results, max(finished) - released[0]


def test_concurrent_calls_share_one_loop_and_one_lifespan(
    make_handler: MakeHandler, backend: str, app_logger: logging.Logger
) -> None:
    probe = Probe()
    handler = make_handler(echo_app(probe, app_logger), backend=backend)
    values = [f"n{index}" for index in range(THREADS)]
    results, elapsed = call_at_once(handler, values)
    assert [result["statusCode"] for result in results] == [200] * THREADS
    assert [result["body"] for result in results] == [f"{value} {TOKEN}" for value in values]
    assert probe.startups == 1
    # Run together, not one after the other (8 x 0.2 s): at most the first ran alone.
    assert elapsed < 1.2, elapsed
    assert probe.most_in_flight >= THREADS // 2, probe.most_in_flight
    state = handler.state
    assert state["token"] == TOKEN
    assert sorted(state["seen"]) == sorted(values)
    # The main thread calls again: the same loop, lifespan and state.
    ninth = handler(http_api("GET", "/echo", query="v=main"), Context())
    assert (ninth["statusCode"], ninth["body"]) == (200, f"main {TOKEN}")
    assert handler.state is state
    assert sorted(state["seen"]) == sorted([*values, "main"])
    assert probe.startups == 1
    handler.shutdown()
    assert (probe.startups, probe.shutdowns) == (1, 1)


def test_concurrent_log_lines_carry_their_own_request_id(
    make_handler: MakeHandler,
    backend: str,
    app_logger: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The runtime loop's own log setup on the app's logger (text lines with the request id),
    # writing to a buffer, and a handler reading REQUEST_ID where the record is handled.
    monkeypatch.delenv("_LAMBDA_TELEMETRY_LOG_FD", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_LOG_FORMAT", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)
    setup_logging(root=app_logger)
    [lambda_handler] = app_logger.handlers
    assert isinstance(lambda_handler, logging.StreamHandler)
    buffer = io.StringIO()
    lambda_handler.setStream(buffer)
    collect = Collect()
    app_logger.addHandler(collect)

    probe = Probe()
    handler = make_handler(echo_app(probe, app_logger), backend=backend)
    values = [str(index) for index in range(THREADS)]
    request_ids = [f"req-{index}" for index in range(THREADS)]
    results, _ = call_at_once(handler, values, request_ids)
    assert [result["body"] for result in results] == [f"{value} {TOKEN}" for value in values]
    assert probe.most_in_flight >= 2  # the lines were interleaved
    token = REQUEST_ID.set("req-main")
    try:
        handler(http_api("GET", "/echo", query="v=main"), Context())
    finally:
        REQUEST_ID.reset(token)

    expected = sorted(
        [
            (f"req-{value}", f"{word} {value}")
            for value in [*values, "main"]
            for word in ("echo", "done")
        ]
    )
    assert sorted(collect.seen) == expected
    lines = [line.split("\t") for line in buffer.getvalue().splitlines()]
    assert all(len(line) == 4 and line[0] == "[INFO]" for line in lines), lines
    assert sorted((line[2], line[3]) for line in lines) == expected
