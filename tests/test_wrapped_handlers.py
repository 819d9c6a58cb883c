"""End to end: Mangum handlers wrapped the way Lambda users wrap them, each runtime in a subprocess
against the Runtime API emulator (tests/lambda_emulator.py).

Every test runs under the official client (``python -m awslambdaric module.handler``) and under
ours (``python -m mangum_like.runtime module.handler``), some also with
``MANGUM_LIKE_INVOKE_MODE=response_stream`` (ours only: awslambdaric does not stream) or in the
``loop`` mode of Lambda Managed Instances (``AWS_LAMBDA_MAX_CONCURRENCY``, ours only).

The wrappers: Powertools' ``Logger.inject_lambda_context``, ``Metrics.log_metrics`` and
``Tracer.capture_lambda_handler``; OpenTelemetry's ``AwsLambdaInstrumentor`` (a wrapt proxy that
replaces the module's handler attribute); Sentry's ``serverless_function`` and its
``AwsLambdaIntegration``; a plain function and a ``functools.wraps`` decorator of the user's.
What a wrapper returns is the result posted, it is called once per invocation, and its own work
(log keys, a metrics flush, a span, an error report and its flush) is done for each invocation,
before the runtime asks for the next one.

The apps are in tests/lambda_apps/wrapped_*.py. Times compared are the emulator's own
(``Invocation.sent_at`` / ``answered_at`` and the times of the ``invocation/next`` calls), which
leave out the processes' start-up.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.example_events import function_url, http_api, read
from tests.lambda_apps.wrapped_plain import BACKGROUND_SECONDS
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator
from tests.test_answer_first import next_request_after

ROOT = Path(__file__).resolve().parent.parent
APPS = "tests.lambda_apps"
RUNTIMES = {
    "awslambdaric": (sys.executable, "-m", "awslambdaric"),
    "ours": (sys.executable, "-m", "mangum_like.runtime"),
}
STREAMING = {"MANGUM_LIKE_INVOKE_MODE": "response_stream"}
DELIMITER = b"\0" * 8  # between a streamed response's prelude and its body
RUNTIME_PATH = "/2018-06-01/runtime"
INIT_WAIT = 20.0  # seconds: importing FastAPI, OpenTelemetry or Sentry takes a while
WAIT = 5.0  # seconds for one answer: a runtime that lost its way fails the test soon

# The two runtimes, and where stated ours in its response_stream mode.
BOTH = pytest.mark.parametrize("runtime_name", ["awslambdaric", "ours"])
BOTH_AND_STREAMED = pytest.mark.parametrize(
    ("runtime_name", "mode_env"),
    [("awslambdaric", {}), ("ours", {}), ("ours", STREAMING)],
    ids=["awslambdaric", "ours", "ours-response_stream"],
)


# -- the execution environment ------------------------------------------------------------------


def _wait_for_init(emulator: RuntimeAPIEmulator, seconds: float = INIT_WAIT) -> None:
    """Until the runtime asks for its first invocation; fails at once on an init error."""
    deadline = time.monotonic() + seconds
    process = emulator.process
    assert process is not None
    while not emulator.init_done.wait(0.02):
        if emulator.init_errors:
            raise AssertionError(
                f"init error {emulator.init_errors[0].json()}; runtime output:\n{emulator.output}"
            )
        if process.poll() is not None:
            raise AssertionError(
                f"the runtime exited with {process.returncode} during init:\n{emulator.output}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"no init within {seconds} s; runtime output:\n{emulator.output}")


@contextmanager
def environment(
    runtime_name: str,
    handler: str,
    env: dict[str, str] | None = None,
    *,
    max_concurrency: int | None = None,
) -> Iterator[RuntimeAPIEmulator]:
    """An execution environment running ``handler`` under ``runtime_name``, ended as Lambda ends
    it. ``_HANDLER`` is set as Lambda sets it from the handler setting (OpenTelemetry's
    instrumentor reads it)."""
    variables = {"_HANDLER": handler, **(env or {})}
    with RuntimeAPIEmulator(max_concurrency=max_concurrency) as emulator:
        emulator.start([*RUNTIMES[runtime_name], handler], variables, cwd=str(ROOT))
        _wait_for_init(emulator)
        yield emulator
        if emulator.process is not None and emulator.process.poll() is None:
            emulator.end_environment(grace=2.0)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    streamed: bool


def answer(invocation: Invocation, emulator: RuntimeAPIEmulator) -> Answer:
    """The HTTP answer an invocation posted: a buffered result, or a streamed response."""
    assert invocation.kind == "response", (
        f"{invocation.kind}: {invocation.body[:500]!r}\n{emulator.output}"
    )
    mode = {name.lower(): value for name, value in invocation.headers.items()}.get(
        "lambda-runtime-function-response-mode"
    )
    if mode == "streaming":
        metadata, delimiter, body = invocation.body.partition(DELIMITER)
        assert delimiter == DELIMITER, invocation.body[:300]
        prelude = json.loads(metadata)
        headers = {name.lower(): str(value) for name, value in prelude.get("headers", {}).items()}
        return Answer(int(prelude["statusCode"]), headers, body, streamed=True)
    result = read(invocation.json())
    return Answer(result.status, result.headers, result.body, streamed=False)


def output_lines(emulator: RuntimeAPIEmulator, prefix: str) -> list[str]:
    return [line for line in emulator.output.splitlines() if line.startswith(prefix)]


def json_lines(emulator: RuntimeAPIEmulator) -> list[dict[str, Any]]:
    """Every line of the runtime's output that is a JSON object."""
    records = []
    for line in emulator.output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def wait_until(check: Any, seconds: float = WAIT) -> Any:
    """``check()`` once it is truthy; its last value after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# -- 1. Powertools Logger -----------------------------------------------------------------------

LOGGER = f"{APPS}.wrapped_logger.handler"
SERVICE = "wrapped-e2e"


def log_event(marker: str, correlation: str, ms: int = 0) -> dict[str, Any]:
    """An HTTP API event for ``GET /log``, its ``requestContext.requestId`` ``correlation``."""
    event = http_api("GET", "/log", query=f"marker={marker}&ms={ms}")
    event["requestContext"]["requestId"] = correlation
    return event


def powertools_records(emulator: RuntimeAPIEmulator, count: int) -> list[dict[str, Any]]:
    """The Powertools logger's JSON lines, once there are ``count`` of them."""

    def records() -> list[dict[str, Any]]:
        return [r for r in json_lines(emulator) if r.get("service") == SERVICE and "marker" in r]

    found = wait_until(lambda: len(records()) >= count and records())
    assert len(found or []) == count, f"{found}\n{emulator.output}"
    return list(found)


@BOTH
def test_powertools_logger_keys_are_each_invocations_own(runtime_name: str) -> None:
    """``inject_lambda_context(correlation_id_path=API_GATEWAY_HTTP)(Mangum(app))``: every line
    the route logs carries its own invocation's request id and its event's correlation id."""
    with environment(runtime_name, LOGGER) as emulator:
        invocations = []
        for index in range(3):
            invocation = emulator.invoke(log_event(f"m{index}", f"corr-{index}"), wait=WAIT)
            invocations.append(invocation)
            assert answer(invocation, emulator).body == f"m{index}".encode()
        records = powertools_records(emulator, 2 * len(invocations))
    assert len({i.request_id for i in invocations}) == len(invocations)
    by_marker = {f"m{index}": (i, f"corr-{index}") for index, i in enumerate(invocations)}
    for record in records:
        invocation, correlation = by_marker[record["marker"]]
        assert record["function_request_id"] == invocation.request_id, record
        assert record["correlation_id"] == correlation, record
        assert record["function_name"] == emulator.function_name, record
        assert record["cold_start"] is (record["marker"] == "m0"), record
    assert sorted(r["message"] for r in records) == ["done"] * 3 + ["handling"] * 3


def concurrent_log_lines(
    handler: str, count: int = 4
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Lambda Managed Instances, our runtime's loop mode: ``count`` /log invocations in flight
    at once, each sleeping 400 ms between its two lines. Their request ids by marker, and the
    ``done`` lines (logged after the sleep, when every invocation has been decorated)."""
    with environment("ours", handler, max_concurrency=count) as emulator:
        warm = emulator.invoke(log_event("warm", "corr-warm"), wait=WAIT)
        assert answer(warm, emulator).status == 200
        invocations = emulator.invoke_all(
            [log_event(f"c{index}", f"corr-c{index}", ms=400) for index in range(count)],
            wait=WAIT,
        )
        bodies = [answer(i, emulator).body for i in invocations]
        assert bodies == [f"c{index}".encode() for index in range(count)]
        assert emulator.peak_in_flight == count  # all in flight at once
        sent = [i.sent_at for i in invocations if i.sent_at is not None]
        assert max(sent) - min(sent) < 0.2  # all decorated well before any route woke up
        records = powertools_records(emulator, 2 + 2 * count)
    ids = {f"c{index}": i.request_id for index, i in enumerate(invocations)}
    done = [r for r in records if r["message"] == "done" and r["marker"] in ids]
    assert len(done) == count, records
    return ids, done


def test_powertools_logger_keys_are_shared_by_concurrent_invocations() -> None:
    """LMI loop mode, ``inject_lambda_context`` as in the single-concurrency test.

    Powertools 3.x keeps the keys ``inject_lambda_context`` appends (``function_request_id``,
    ``correlation_id``, ``cold_start``...) in one dict of the logger's formatter
    (``LambdaPowertoolsFormatter.append_keys`` updates ``self.log_format``; so does
    ``append_context_keys``), shared by every thread and task: only the ``thread_safe_*``
    methods use a ContextVar, and the decorator does not call them. So once all four decorators
    have run, every line any of the four logs carries the keys of whichever invocation was
    decorated last: the answers are right, the log keys are not.
    """
    count = 4
    ids, done = concurrent_log_lines(LOGGER, count)
    # After the sleep, all four lines carry one and the same request id and correlation id:
    # those of one of the four invocations, the last one decorated.
    shared_ids = {r["function_request_id"] for r in done}
    shared_correlations = {r["correlation_id"] for r in done}
    assert len(shared_ids) == 1, done
    assert len(shared_correlations) == 1, done
    [shared] = shared_ids
    assert shared in ids.values()
    last = next(marker for marker, request_id in ids.items() if request_id == shared)
    assert shared_correlations == {f"corr-{last}"}
    # So three lines of four name an invocation that is not theirs.
    wrong = [r for r in done if r["function_request_id"] != ids[r["marker"]]]
    assert len(wrong) == count - 1


def test_powertools_thread_safe_keys_are_each_concurrent_invocations_own() -> None:
    """LMI loop mode, the keys set again with ``logger.thread_safe_append_keys`` by a wrapper
    around the decorated handler: a ContextVar, which the formatter applies over the shared
    dict, and which the app sees, as it runs in a copy of its caller's context. Each line
    carries its own invocation's ids."""
    ids, done = concurrent_log_lines(f"{APPS}.wrapped_logger.thread_safe_handler")
    for record in done:
        assert record["function_request_id"] == ids[record["marker"]], record
        assert record["correlation_id"] == f"corr-{record['marker']}", record


# -- 2. Powertools Metrics ----------------------------------------------------------------------

METRICS = f"{APPS}.wrapped_metrics.handler"
NAMESPACE = "WrappedE2E"


def emf_documents(emulator: RuntimeAPIEmulator) -> list[dict[str, Any]]:
    return [record for record in json_lines(emulator) if "_aws" in record]


@BOTH
def test_powertools_metrics_one_emf_document_per_invocation(runtime_name: str) -> None:
    """``metrics.log_metrics(Mangum(app))``: each invocation's metric is flushed as one EMF
    document on stdout, before its result is posted."""
    values = [3, 5, 7]
    env = {"POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
    with environment(runtime_name, METRICS, env) as emulator:
        for index, value in enumerate(values):
            event = http_api("GET", "/hit", query=f"n={value}")
            invocation = emulator.invoke(event, wait=WAIT)
            assert answer(invocation, emulator).body == str(value).encode()
            # The wrapper flushed before it returned, so before the result was posted.
            documents = emf_documents(emulator)
            assert len(documents) == index + 1, emulator.output
            assert documents[-1]["Hits"] == [value]  # EMF: the values of the metric
    for document, value in zip(documents, values, strict=True):
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert directive["Metrics"] == [{"Name": "Hits", "Unit": "Count"}]
        assert document["service"] == SERVICE
        assert document["Hits"] == [value]


# -- 3. Powertools Tracer -----------------------------------------------------------------------

TRACER = f"{APPS}.wrapped_tracer.handler"


@BOTH
def test_powertools_tracer_wraps_a_mangum_handler(runtime_name: str) -> None:
    """``Tracer().capture_lambda_handler(Mangum(app))`` reads the handler's ``__name__`` when it
    is applied: the module loads, and the handler answers."""
    env = {"POWERTOOLS_TRACE_DISABLED": "true"}
    with environment(runtime_name, TRACER, env) as emulator:
        for _ in range(2):
            invocation = emulator.invoke(http_api("GET", "/traced"), wait=WAIT)
            result = answer(invocation, emulator)
            assert (result.status, result.body) == (200, b"traced")
    assert emulator.init_errors == []


# -- 4. OpenTelemetry ---------------------------------------------------------------------------

OTEL = f"{APPS}.wrapped_otel.handler"


def xray_header(index: int) -> tuple[str, str, str]:
    """An X-Ray trace header for ``Lambda-Runtime-Trace-Id``, its OTel trace id and parent."""
    epoch, unique, parent = f"{0x6000_0000 + index:08x}", f"{index + 1:024x}", f"{index + 1:016x}"
    header = f"Root=1-{epoch}-{unique};Parent={parent};Sampled=1"
    return header, epoch + unique, parent


def otel_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@BOTH_AND_STREAMED
@pytest.mark.parametrize("parent", ["xray", "w3c"])
def test_opentelemetry_one_server_span_per_invocation(
    runtime_name: str, mode_env: dict[str, str], parent: str, tmp_path: Path
) -> None:
    """``AwsLambdaInstrumentor().instrument()`` replaces the handler named by ``_HANDLER`` with
    a wrapt proxy: each invocation is one SERVER span, its ``faas.invocation_id`` the request
    id. With an ``event_context_extractor`` reading ``_X_AMZN_TRACE_ID`` (``xray``) the span
    continues the invocation's ``Lambda-Runtime-Trace-Id``; with the instrumentor's default
    (``w3c``) it continues the event's ``traceparent`` header and ignores the X-Ray one."""
    spans_file = tmp_path / "spans.jsonl"
    env = {**mode_env, "WRAPPED_OTEL_SPANS": str(spans_file), "WRAPPED_OTEL_PARENT": parent}
    expected: dict[str, tuple[str, str]] = {}  # request id -> (trace id, parent span id)
    with environment(runtime_name, OTEL, env) as emulator:
        for index in range(3):
            header, xray_trace, xray_parent = xray_header(index)
            w3c_trace, w3c_parent = f"{0xABC0 + index:032x}", f"{0xDEF0 + index:016x}"
            event = function_url(
                "GET", "/traced", headers={"traceparent": f"00-{w3c_trace}-{w3c_parent}-01"}
            )
            invocation = emulator.invoke(event, trace_id=header, wait=WAIT)
            result = answer(invocation, emulator)
            assert (result.status, result.body) == (200, b"traced")
            expected[invocation.request_id] = (
                (xray_trace, xray_parent) if parent == "xray" else (w3c_trace, w3c_parent)
            )
        # Exported as the span ended, inside the wrapper: before the result was posted.
        spans = otel_spans(spans_file)
    server = [span for span in spans if span["kind"] == "SERVER"]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for span in server:
        by_request.setdefault(span["attributes"].get("faas.invocation_id"), []).append(span)
    assert sorted(by_request) == sorted(expected), f"{spans}\n{emulator.output}"
    for request_id, (trace_id, parent_id) in expected.items():
        [span] = by_request[request_id]  # exactly one SERVER span per invocation
        assert span["name"] == emulator.function_name
        assert span["trace_id"] == trace_id, span
        assert span["parent"] == parent_id, span
        assert span["parent_remote"] is True
        assert span["sampled"] is True


@pytest.mark.parametrize("mode_env", [{}, STREAMING], ids=["buffered", "response_stream"])
def test_opentelemetry_span_per_invocation_on_managed_instances(
    mode_env: dict[str, str], tmp_path: Path
) -> None:
    """Our runtime's loop mode of Lambda Managed Instances: four invocations in flight at once
    through the instrumentor's proxy, each its own SERVER span continuing its own event's
    ``traceparent`` (the X-Ray variable is process-wide there, and left unset)."""
    spans_file = tmp_path / "spans.jsonl"
    env = {**mode_env, "WRAPPED_OTEL_SPANS": str(spans_file), "WRAPPED_OTEL_PARENT": "w3c"}
    count = 4
    traces = [f"{0xFACE0 + index:032x}" for index in range(count)]
    with environment("ours", OTEL, env, max_concurrency=count) as emulator:
        events = [
            function_url(
                "GET",
                "/traced",
                query="ms=300",
                headers={"traceparent": f"00-{trace}-{0xBEEF0 + i:016x}-01"},
            )
            for i, trace in enumerate(traces)
        ]
        invocations = emulator.invoke_all(events, wait=WAIT)
        for invocation in invocations:
            result = answer(invocation, emulator)
            assert (result.status, result.body) == (200, b"traced")
        spans = otel_spans(spans_file)
    server = [span for span in spans if span["kind"] == "SERVER"]
    by_request = {span["attributes"].get("faas.invocation_id"): span for span in server}
    assert len(server) == count, f"{spans}\n{emulator.output}"
    assert emulator.peak_in_flight == count  # all in flight at once
    for invocation, trace in zip(invocations, traces, strict=True):
        assert by_request[invocation.request_id]["trace_id"] == trace


# -- 5. Sentry ----------------------------------------------------------------------------------

SENTRY = f"{APPS}.wrapped_sentry"
SENTRY_SEND_DELAY = 0.1  # seconds the envelope server takes to answer, as a remote one would


@dataclass
class Envelope:
    arrived_at: float  # monotonic: when the POST's headers were in
    answered_at: float  # monotonic: when the server had answered it
    headers: dict[str, Any]
    items: list[tuple[dict[str, Any], Any]]  # (item header, payload: JSON, or bytes)

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [
            payload
            for header, payload in self.items
            if header.get("type") == kind and isinstance(payload, dict)
        ]


@dataclass
class SentryServer:
    """A local Sentry ingest, which records every envelope POSTed to ``/api/<project>/envelope/``
    with its monotonic arrival time, and a server of another port for the app's own request
    (``GET /outbound``), which records its headers: Sentry adds no trace headers to requests
    for its DSN's host and port."""

    envelopes: list[Envelope] = field(default_factory=list)
    outbound: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    outbound_port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dsn(self) -> str:
        return f"http://key@127.0.0.1:{self.port}/1"

    @property
    def outbound_url(self) -> str:
        return f"http://127.0.0.1:{self.outbound_port}/outbound"

    def error_events(self) -> list[dict[str, Any]]:
        with self.lock:
            envelopes = list(self.envelopes)
        return [
            event
            for envelope in envelopes
            for event in envelope.payloads("event")
            if event.get("exception")
        ]


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Any]]]:
    """Sentry's envelope format: a JSON header line, then items, each a JSON item header line
    and a payload (``length`` bytes when the item header says so, else up to the newline)."""
    first, _, rest = data.partition(b"\n")
    header = json.loads(first)
    items: list[tuple[dict[str, Any], Any]] = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        item_header = json.loads(line)
        length = item_header.get("length")
        if length is None:
            raw, _, rest = rest.partition(b"\n")
        else:
            raw, rest = rest[:length], rest[length:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            payload = raw
        items.append((item_header, payload))
    return header, items


@contextmanager
def sentry_server() -> Iterator[SentryServer]:
    state = SentryServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self) -> None:
            if self.path.startswith("/outbound"):
                with state.lock:
                    state.outbound.append(
                        {name.lower(): value for name, value in self.headers.items()}
                    )
            self._reply(b"ok")

        def do_POST(self) -> None:
            arrived = time.monotonic()
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            if encoding == "gzip":
                data = gzip.decompress(data)
            elif encoding:
                raise AssertionError(f"an envelope in {encoding}: cannot read it")
            header, items = parse_envelope(data)
            time.sleep(SENTRY_SEND_DELAY)
            self._reply(b"{}")
            envelope = Envelope(arrived, time.monotonic(), header, items)
            with state.lock:
                state.envelopes.append(envelope)

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    state.port, state.outbound_port = (server.server_address[1] for server in servers)
    threads = []
    for server in servers:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        threads.append(thread)
    try:
        yield state
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            thread.join(5)
            server.server_close()


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def breadcrumbs_and_spans(envelope: Envelope) -> list[Any]:
    """The breadcrumbs of its events and the spans of its transactions (and span items)."""
    found: list[Any] = []
    for header, payload in envelope.items:
        if not isinstance(payload, dict):
            continue
        crumbs = payload.get("breadcrumbs")
        if isinstance(crumbs, dict):
            crumbs = crumbs.get("values")
        found.extend(crumbs or [])
        found.extend(payload.get("spans") or [])
        if header.get("type") in ("span", "spans"):
            found.append(payload)
    return found


def header_names(invocation: Invocation) -> set[str]:
    return {name.lower() for name in invocation.headers}


@BOTH_AND_STREAMED
@pytest.mark.parametrize("wrapping", ["serverless", "plain"])
def test_sentry_reports_each_failure_once_before_the_next_invocation(
    runtime_name: str, mode_env: dict[str, str], wrapping: str
) -> None:
    """``serverless_function(Mangum(app))``, and a plain ``Mangum(app)`` with
    ``AwsLambdaIntegration``: a route's exception (a 500 answer) is reported exactly once per
    failing invocation, its envelope is sent, and answered, before the runtime asks for the next
    invocation (Lambda may freeze the environment from then on: nothing is sent while it waits),
    and the runtime's own requests to the Runtime API leave no breadcrumb, no span and no trace
    header behind."""
    markers = ["m0", "m1", "m2"]
    with sentry_server() as sentry:
        env = {
            **mode_env,
            "WRAPPED_SENTRY_DSN": sentry.dsn,
            "WRAPPED_SENTRY_OUTBOUND": sentry.outbound_url,
        }
        if wrapping == "plain":
            env["WRAPPED_SENTRY_AWS_LAMBDA"] = "1"
        with environment(runtime_name, f"{SENTRY}.{wrapping}", env) as emulator:
            invocations = [emulator.invoke(function_url("GET", "/ok"), wait=WAIT)]
            assert answer(invocations[0], emulator).body == b"ok"
            for marker in markers:
                event = function_url("GET", "/boom", query=f"marker={marker}")
                invocation = emulator.invoke(event, wait=WAIT)
                assert answer(invocation, emulator).status == 500
                invocations.append(invocation)
            # When the runtime asked for the next invocation after each of them.
            asked = [next_request_after(emulator, invocation, WAIT) for invocation in invocations]
            errors = wait_until(lambda: len(sentry.error_events()) >= len(markers))
            time.sleep(0.3)  # a report sent late, or twice, would come in meanwhile
            with sentry.lock:
                envelopes = list(sentry.envelopes)
                outbound = list(sentry.outbound)
            output = emulator.output
    assert errors, f"{len(sentry.error_events())} error events\n{output}"
    # Exactly one report per failing invocation.
    values = [
        value.get("value")
        for event in sentry.error_events()
        for value in event["exception"]["values"]
        if value.get("type") == "RuntimeError"
    ]
    assert sorted(values) == [f"boom {marker}" for marker in markers], output
    assert len(sentry.error_events()) == len(markers)
    # Every envelope was sent while an invocation ran: from the event to the next /next call.
    windows = [(i.sent_at, at) for i, at in zip(invocations, asked, strict=True)]
    for envelope in envelopes:
        assert any(
            start is not None and start < envelope.arrived_at and envelope.answered_at < end
            for start, end in windows
        ), (envelope.items, windows)
    # Each error was sent during its own invocation.
    for marker, invocation, end in zip(markers, invocations[1:], asked[1:], strict=True):
        [envelope] = [
            e
            for e in envelopes
            for event in e.payloads("event")
            if f"boom {marker}" in json.dumps(event.get("exception"))
        ]
        assert invocation.sent_at is not None
        assert invocation.sent_at < envelope.arrived_at < envelope.answered_at < end
    # The route's own request is recorded (a control: breadcrumbs, spans and trace headers are
    # on), the runtime's are not.
    recorded = [
        json.dumps(item) for envelope in envelopes for item in breadcrumbs_and_spans(envelope)
    ]
    assert any("/outbound" in item for item in recorded), recorded
    for envelope in envelopes:
        for item in breadcrumbs_and_spans(envelope):
            assert not any(RUNTIME_PATH in text for text in strings_in(item)), item
    assert len(outbound) == len(markers)
    assert all("sentry-trace" in headers for headers in outbound), outbound
    for invocation in invocations:
        assert not header_names(invocation) & {"sentry-trace", "baggage"}, invocation.headers


# -- 6, 7, 8. A wrapper of the user's own -------------------------------------------------------

PLAIN = f"{APPS}.wrapped_plain"
SLEEP = 0.2  # seconds /sleep awaits
BATCH = 8
EARLY = 0.05  # seconds: the answer reaches the Runtime API within this of the event
BACKGROUND = BACKGROUND_SECONDS  # of /bg's BackgroundTask


def span(invocations: Sequence[Invocation]) -> float:
    """Seconds from the first event handed out to the last answer."""
    sent = [i.sent_at for i in invocations if i.sent_at is not None]
    answered = [i.answered_at for i in invocations if i.answered_at is not None]
    assert len(sent) == len(answered) == len(invocations)
    return max(answered) - min(sent)


@pytest.mark.parametrize("runtime_name", ["awslambdaric", "ours-lmi"])
def test_plain_wrapper_around_a_module_level_mangum(runtime_name: str) -> None:
    """``def handler(event, context): return inner(event, context)``: under our runtime's LMI
    loop mode (4 at once) 8 concurrent invocations all answer 200, and the batch takes clearly
    less than 8 x 0.2 s; under awslambdaric, one at a time, they all answer 200 too."""
    concurrency = 4 if runtime_name == "ours-lmi" else None
    runtime = "ours" if runtime_name == "ours-lmi" else runtime_name
    with environment(runtime, f"{PLAIN}.handler", max_concurrency=concurrency) as emulator:
        warm = emulator.invoke(function_url("GET", "/ping"), wait=WAIT)
        assert answer(warm, emulator).body == b"pong"
        events = [function_url("GET", "/sleep", query=f"ms={int(SLEEP * 1000)}")] * BATCH
        invocations = emulator.invoke_all(events, wait=BATCH * SLEEP + WAIT)
        results = [answer(i, emulator) for i in invocations]
        assert [(r.status, r.body) for r in results] == [(200, b"slept 200")] * BATCH, (
            emulator.output
        )
        took = span(invocations)
        if concurrency:
            assert emulator.peak_in_flight == concurrency
            assert took < 0.5 * BATCH * SLEEP, f"{took:.3f} s\n{emulator.output}"
        else:
            assert emulator.peak_in_flight == 1
            assert took >= BATCH * SLEEP
    assert "This event loop is already running" not in emulator.output


@BOTH
def test_decorated_mangum_answers_first_and_finishes_after(runtime_name: str) -> None:
    """A ``functools.wraps`` decorator around the Mangum, whose route adds a 1 s BackgroundTask.
    Ours posts the decorator's result within 50 ms of the event and asks for the next
    invocation only after the task; awslambdaric posts it after the task (documented). Either
    way the decorator's post-processing (a header it adds) is in the posted result."""
    with environment(runtime_name, f"{PLAIN}.decorated") as emulator:
        warm = emulator.invoke(function_url("GET", "/ping"), wait=WAIT)
        assert answer(warm, emulator).body == b"pong"
        invocation = emulator.invoke(function_url("GET", "/bg", query="marker=x1"), wait=WAIT)
        result = answer(invocation, emulator)
        assert (result.status, result.body) == (200, b"answered x1")
        assert result.headers["x-wrapped-by"] == f"decorator {invocation.request_id}"
        asked = next_request_after(emulator, invocation, WAIT)
        assert invocation.sent_at is not None
        if runtime_name == "ours":
            assert invocation.duration < EARLY, f"{invocation.duration:.3f} s\n{emulator.output}"
        else:
            assert invocation.duration >= BACKGROUND - 0.05
        # The next invocation is asked for once the task has run to its end.
        assert asked - invocation.sent_at >= BACKGROUND - 0.05
        assert "BACKGROUND DONE x1" in emulator.output
        after = emulator.invoke(function_url("GET", "/ping"), wait=WAIT)
        assert answer(after, emulator).body == b"pong"


@BOTH
def test_decorated_mangum_is_called_once_and_its_result_is_posted(runtime_name: str) -> None:
    """A ``functools.wraps`` decorator around a Mangum is the handler: called exactly once per
    invocation, and what it returns is what is posted."""
    with environment(runtime_name, f"{PLAIN}.decorated") as emulator:
        invocations = [
            emulator.invoke(function_url("GET", "/sleep", query="ms=0"), wait=WAIT)
            for _ in range(3)
        ]
        for invocation in invocations:
            result = answer(invocation, emulator)
            assert (result.status, result.body) == (200, b"slept 0"), emulator.output
            assert result.headers["x-wrapped-by"] == f"decorator {invocation.request_id}"
        called = output_lines(emulator, "WRAPPER CALLED ")
        returned = output_lines(emulator, "WRAPPER RETURNED ")
    expected = [f"{i.request_id}" for i in invocations]
    assert [line.split()[-1] for line in called] == expected, emulator.output
    assert [line.split()[-1] for line in returned] == expected, emulator.output
