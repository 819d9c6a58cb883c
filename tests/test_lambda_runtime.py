"""``python -m mangum_like.runtime``, end to end: the runtime in a subprocess against the Runtime
API emulator, side by side with the official client (awslambdaric) where their results must be
the same bytes.

Contract: DESIGN.md section 5 and the module docstring of ``mangum_like/runtime.py``.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import event_names, load_event
from tests.lambda_apps.streaming import pattern
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
OURS = (sys.executable, "-m", "mangum_like.runtime")
RIC = (sys.executable, "-m", "awslambdaric")
APPS = "tests.lambda_apps"
STREAMING = {"MANGUM_LIKE_INVOKE_MODE": "response_stream"}
DELIMITER = b"\0" * 8


@contextmanager
def runtime(
    argv: Sequence[str], env: dict[str, str] | None = None, *, wait_init: bool = True
) -> Iterator[RuntimeAPIEmulator]:
    """An execution environment running ``argv``, ended as Lambda ends it when the block is
    left (SIGTERM for a runtime that registered the no-op extension, SIGKILL otherwise)."""
    with RuntimeAPIEmulator() as emulator:
        emulator.start(list(argv), env, cwd=str(ROOT))
        if wait_init:
            emulator.wait_init(20)
        yield emulator
        if emulator.process is not None and emulator.process.poll() is None:
            emulator.end_environment(grace=2.0)


def url_event(path: str = "/", query: str = "", method: str = "GET", **changes: Any) -> Any:
    """A Function URL event for ``method path?query``."""
    event = load_event("powertools/function-url/lambdaFunctionUrlEvent.json", **changes)
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"].update(method=method, path=path)
    return event


def rest_event(path: str) -> Any:
    event = load_event("powertools/apigw-rest-v1/getting_started_rest_api_resolver.json")
    event.update(path=path, httpMethod="GET", multiValueQueryStringParameters=None)
    event["queryStringParameters"] = None
    event["requestContext"]["path"] = path
    return event


def split_stream(invocation: Invocation) -> tuple[dict[str, Any], bytes]:
    """The prelude (JSON metadata) and the body of a streamed response."""
    assert invocation.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert invocation.headers["Transfer-Encoding"] == "chunked"
    assert (
        invocation.headers["Content-Type"] == "application/vnd.awslambda.http-integration-response"
    )
    assert invocation.headers["Trailer"] == (
        "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    )
    metadata, delimiter, body = invocation.body.partition(DELIMITER)
    assert delimiter == DELIMITER
    prelude: dict[str, Any] = json.loads(metadata)
    return prelude, body


# -- buffered: the same bytes as the official client -----------------------------------------------

HTTP_EVENTS = event_names(
    "apigw-rest-v1", "apigw-http-v2", "function-url", "alb-single", "alb-multi"
)


def content_type(invocation: Invocation) -> str | None:
    # curl (the official client) sends the header in lower case, http.client capitalised.
    headers = {name.lower(): value for name, value in invocation.headers.items()}
    return headers.get("content-type")


def answers(argv: Sequence[str], events: Sequence[Any], env: dict[str, str]) -> list[Any]:
    """What a runtime posts for each event: kind, content type and the exact bytes."""
    out = []
    with runtime(argv, env) as emulator:
        for index, event in enumerate(events):
            invocation = emulator.invoke(event, request_id=f"request-{index}")
            out.append((invocation.kind, content_type(invocation), invocation.body))
    return out


@pytest.mark.parametrize(
    "execution_env", ["AWS_Lambda_python3.12", "AWS_Lambda_python3.11"], ids=["utf8", "ascii"]
)
class TestBufferedLikeTheOfficialClient:
    def test_http_events(self, execution_env: str) -> None:
        events = [load_event(name) for name in HTTP_EVENTS]
        events += [url_event("/echo", "q=caf%C3%A9", "POST", body="h\u00e9llo \u2713")]
        env = {"AWS_EXECUTION_ENV": execution_env}
        ours = answers([*OURS, f"{APPS}.streaming.handler"], events, env)
        official = answers([*RIC, f"{APPS}.streaming.handler"], events, env)
        assert [kind for kind, _, _ in ours] == ["response"] * len(events)
        assert ours == official

    def test_plain_handler_values(self, execution_env: str) -> None:
        kinds = ["bytes", "decimal", "text", "numbers", "none", "fail", "unserialisable", "other"]
        events: list[Any] = [{"kind": kind} for kind in kinds]
        events += [load_event(name) for name in event_names("non-http")[:6]]
        events += [[1, "two"], "a string event", 3.5]
        env = {"AWS_EXECUTION_ENV": execution_env}
        ours = answers([*OURS, f"{APPS}.plain.values"], events, env)
        official = answers([*RIC, f"{APPS}.plain.values"], events, env)
        assert ours == official
        assert ours[0] == ("response", "application/unknown", b"\x00raw bytes\xff")
        assert ours[1][2] == (b'{"price": 1.10, "big": 1E+2, "nan": NaN, "list": [-0.000, 3]}')
        assert ours[kinds.index("fail")][0] == "error"

    def test_errors(self, execution_env: str) -> None:
        events = [{"kind": "fail"}, {"kind": "unserialisable"}, {"not": "http"}]
        env = {"AWS_EXECUTION_ENV": execution_env}
        ours = []
        with runtime([*OURS, f"{APPS}.plain.values"], env) as emulator:
            for index, event in enumerate(events):
                ours.append(emulator.invoke(event, request_id=f"request-{index}"))
        with runtime([*RIC, f"{APPS}.plain.values"], env) as emulator:
            official = [
                emulator.invoke(event, request_id=f"request-{index}")
                for index, event in enumerate(events)
            ]
        for mine, theirs in zip(ours, official, strict=True):
            assert (mine.kind, mine.body) == (theirs.kind, theirs.body)
        fail = ours[0].json()
        assert fail["errorType"] == "ValueError"
        assert fail["errorMessage"] == "the handler failed: \u00e9"
        assert fail["requestId"] == "request-0"
        assert "plain.py" in fail["stackTrace"][0]
        assert ours[0].headers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
        assert ours[1].json()["errorType"] == "Runtime.MarshalError"
        cause = json.loads(ours[0].headers["Lambda-Runtime-Function-XRay-Error-Cause"])
        assert cause["exceptions"][0]["type"] == "ValueError"


class TestContext:
    def test_like_the_official_client(self) -> None:
        options: dict[str, Any] = {
            "client_context": {
                "custom": {"tenant": "a"},
                "env": {"locale": "fr"},
                "client": {"installation_id": "i-1", "app_title": "app"},
            },
            "identity": {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
            "trace_id": "Root=1-abc;Parent=def;Sampled=1",
        }
        results = []
        for argv in (OURS, RIC):
            with runtime([*argv, f"{APPS}.plain.context"]) as emulator:
                full = emulator.invoke({}, request_id="request-1", **options).json()
                bare = emulator.invoke({}, request_id="request-2", trace_id="").json()
                results.append((full, bare))
        assert results[0] == results[1]
        full, bare = results[0]
        assert full["memory_limit_in_mb"] == "128"
        assert full["identity"] == ["id-1", "pool-1"]
        assert full["client_context"]["client"][:2] == ["i-1", "app"]
        assert full["trace_id"] == "Root=1-abc;Parent=def;Sampled=1"
        assert full["remaining_positive"] is True
        assert full["remaining_type"] == "int"
        assert bare["trace_id"] is None  # no trace header: the previous one is not left over
        assert bare["client_context"] is None


# -- init ---------------------------------------------------------------------------------------


class TestInitErrors:
    @pytest.mark.parametrize(
        ("handler", "error_type", "message"),
        [
            (
                "tests.lambda_apps.missing.handler",
                "Runtime.ImportModuleError",
                "Unable to import module 'tests.lambda_apps.missing': "
                "No module named 'tests.lambda_apps.missing'",
            ),
            (
                f"{APPS}.plain.nothing",
                "Runtime.HandlerNotFound",
                f"Handler 'nothing' missing on module '{APPS}.plain'",
            ),
            (
                f"{APPS}.broken_import.handler",
                "RuntimeError",
                "the module cannot be imported: no configuration",
            ),
            ("sys.handler", "Runtime.BuiltInModuleConflict", None),
            ("handler", "Runtime.MalformedHandlerName", None),
        ],
        ids=["no-module", "no-attribute", "import-raises", "built-in", "malformed"],
    )
    def test_reported_to_init_error(
        self, handler: str, error_type: str, message: str | None
    ) -> None:
        reports = []
        for argv in (OURS, RIC):
            with runtime([*argv, handler], wait_init=False) as emulator:
                assert emulator.process is not None
                assert emulator.process.wait(20) != 0
                assert len(emulator.init_errors) == 1
                report = emulator.init_errors[0]
                assert report.headers["Lambda-Runtime-Function-Error-Type"] == error_type
                reports.append(report.json())
        ours, official = reports
        assert ours["errorType"] == official["errorType"] == error_type
        assert ours["requestId"] == ""
        if message is not None:
            assert ours["errorMessage"] == official["errorMessage"] == message
        if error_type == "RuntimeError":
            assert any("broken_import.py" in line for line in ours["stackTrace"])

    def test_syntax_error(self, tmp_path: Path) -> None:
        (tmp_path / "broken_syntax.py").write_text("def handler(event, context)\n    pass\n")
        env = {"LAMBDA_TASK_ROOT": str(tmp_path), "PYTHONPATH": str(tmp_path)}
        with runtime([*OURS, "broken_syntax.handler"], env, wait_init=False) as emulator:
            assert emulator.process is not None
            assert emulator.process.wait(20) == 1
            report = emulator.init_errors[0].json()
        assert report["errorType"] == "Runtime.UserCodeSyntaxError"
        assert report["errorMessage"].startswith("Syntax error in module 'broken_syntax'")

    def test_handler_from_the_environment_and_module_colon_attribute(self) -> None:
        env = {"_HANDLER": f"{APPS}.plain:values"}
        with runtime(OURS, env) as emulator:
            assert emulator.invoke({"kind": "none"}).body == b"null"

    def test_a_bare_asgi_app_is_wrapped(self) -> None:
        with runtime([*OURS, f"{APPS}.streaming.app"]) as emulator:
            result = emulator.invoke(url_event("/hello", "a=1")).json()
        assert result["statusCode"] == 200
        assert json.loads(result["body"]) == {
            "method": "GET",
            "path": "/hello",
            "query": "a=1",
            "body": "",
        }


# -- response streaming ---------------------------------------------------------------------------


@pytest.fixture(params=["handler", "trio_handler", "app"])
def streaming(request: pytest.FixtureRequest) -> Iterator[RuntimeAPIEmulator]:
    """Our runtime in response_stream mode: a Mangum handler on asyncio, on trio, a bare app."""
    with runtime([*OURS, f"{APPS}.streaming.{request.param}"], STREAMING) as emulator:
        yield emulator


class TestResponseStreaming:
    def test_sse_chunks_arrive_as_they_are_sent(self, streaming: RuntimeAPIEmulator) -> None:
        invocation = streaming.invoke(url_event("/sse", "events=5&interval=0.2"))
        prelude, body = split_stream(invocation)
        assert prelude == {
            "statusCode": 200,
            "headers": {"content-type": "text/event-stream", "cache-control": "no-cache"},
            "cookies": [],
        }
        events = [f"id: {i}\nevent: token\ndata: token {i}\n\n".encode() for i in range(5)]
        assert body == b"".join(events)
        assert invocation.trailers == {}
        # The prelude, then one chunk per ASGI message, each sent the moment the app sent it.
        chunks = [data for _, data in invocation.chunks]
        assert chunks[0].endswith(DELIMITER)
        assert chunks[1:] == events
        times = [at for at, _ in invocation.chunks[1:]]
        assert times[-1] - times[0] >= 0.7  # 4 intervals of 0.2 s
        for earlier, later in itertools.pairwise(times):
            assert later - earlier >= 0.15

    def test_8_mb_binary_intact(self, streaming: RuntimeAPIEmulator) -> None:
        size = 8 * 1024 * 1024
        invocation = streaming.invoke(url_event("/bytes", f"size={size}&chunk=100000"))
        prelude, body = split_stream(invocation)
        assert prelude["headers"] == {
            "content-type": "application/octet-stream",
            "content-length": str(size),
        }
        assert len(body) == size
        assert body == pattern(size)  # no base64, no loss, no reordering
        assert len(invocation.chunks) == 1 + -(-size // 100000)

    def test_cookies_and_headers_in_the_prelude(self, streaming: RuntimeAPIEmulator) -> None:
        prelude, body = split_stream(streaming.invoke(url_event("/cookies")))
        assert prelude == {
            "statusCode": 201,
            "headers": {"content-type": "text/plain; charset=utf-8", "x-multi": "one,two"},
            "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"],
        }
        assert body == b"cookies set"

    def test_rest_api_prelude_has_multi_value_headers(self, streaming: RuntimeAPIEmulator) -> None:
        prelude, body = split_stream(streaming.invoke(rest_event("/cookies")))
        assert prelude == {
            "statusCode": 201,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "multiValueHeaders": {
                "set-cookie": ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"],
                "x-multi": ["one", "two"],
            },
        }
        assert body == b"cookies set"

    def test_failure_before_the_prelude_answers_500(self, streaming: RuntimeAPIEmulator) -> None:
        invocation = streaming.invoke(url_event("/fail-before"))
        assert invocation.kind == "response"
        prelude, body = split_stream(invocation)
        assert prelude == {
            "statusCode": 500,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "cookies": [],
        }
        assert body == b"Internal Server Error"
        assert invocation.trailers == {}
        assert "failed before the response started" in streaming.output

    @pytest.mark.parametrize(
        ("path", "error_type", "message"),
        [
            ("/fail-after", "RuntimeError", "failed after the prelude"),
            ("/incomplete", "UnexpectedMessage", "the app returned before completing"),
        ],
    )
    def test_failure_after_the_prelude_goes_in_the_trailers(
        self, streaming: RuntimeAPIEmulator, path: str, error_type: str, message: str
    ) -> None:
        invocation = streaming.invoke(url_event(path))
        prelude, body = split_stream(invocation)
        assert prelude["statusCode"] == 200
        assert body == b"partial "
        assert invocation.trailers["Lambda-Runtime-Function-Error-Type"] == error_type
        error = json.loads(
            base64.b64decode(invocation.trailers["Lambda-Runtime-Function-Error-Body"])
        )
        assert error["errorType"] == error_type
        assert error["errorMessage"].startswith(message)
        assert isinstance(error["stackTrace"], list)
        # The environment carries on.
        assert split_stream(streaming.invoke(url_event("/cookies")))[1] == b"cookies set"

    def test_lost_stream_means_disconnect(self, streaming: RuntimeAPIEmulator) -> None:
        invocation = streaming.invoke(url_event("/disconnect"), cut_after=20_000)
        assert invocation.kind == "cut"
        state = json.loads(split_stream(streaming.invoke(url_event("/state")))[1])
        assert state["disconnect"] == "http.disconnect"
        assert state["startups"] == 1

    def test_events_of_sources_that_cannot_stream_answer_buffered(
        self, streaming: RuntimeAPIEmulator
    ) -> None:
        alb = load_event(event_names("alb-single")[0])
        invocation = streaming.invoke(alb)
        assert invocation.kind == "response"
        assert "Lambda-Runtime-Function-Response-Mode" not in invocation.headers
        assert invocation.json()["statusCode"] == 200
        error = streaming.invoke({"Records": []})
        assert error.kind == "error"
        assert error.json()["errorType"] == "UnsupportedEvent"
        assert error.headers["Lambda-Runtime-Function-Error-Type"] == "UnsupportedEvent"

    def test_head_sends_no_body(self, streaming: RuntimeAPIEmulator) -> None:
        prelude, body = split_stream(streaming.invoke(url_event("/bytes", "size=1000", "HEAD")))
        assert prelude["statusCode"] == 200
        assert body == b""

    def test_bad_request_answers_400(self, streaming: RuntimeAPIEmulator) -> None:
        event = url_event("/echo", method="POST", body="not base64!", isBase64Encoded=True)
        prelude, body = split_stream(streaming.invoke(event))
        assert prelude["statusCode"] == 400
        assert body.startswith(b"Bad Request")


def peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def test_memory_stays_flat_while_streaming() -> None:
    with runtime([*OURS, f"{APPS}.streaming.handler"], STREAMING) as emulator:
        assert emulator.process is not None
        emulator.invoke(url_event("/bytes", "size=1048576"))
        before = peak_memory_kib(emulator.process.pid)
        invocation = emulator.invoke(url_event("/bytes", "size=50000000&chunk=1000000"), wait=60)
        after = peak_memory_kib(emulator.process.pid)
        assert len(split_stream(invocation)[1]) == 50_000_000
    # 50 MB went through; the runtime's peak grew by a few 1 MB chunks at most.
    assert after - before < 8 * 1024


# -- lifecycle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["buffered", "response_stream"])
def test_startup_exactly_once_over_100_invocations(mode: str) -> None:
    env = {"MANGUM_LIKE_INVOKE_MODE": mode}
    with runtime([*OURS, f"{APPS}.streaming.handler"], env) as emulator:
        for index in range(99):
            invocation = emulator.invoke(url_event("/echo", f"n={index}"))
            assert invocation.kind == "response"
        last = emulator.invoke(url_event("/state"))
    if mode == "buffered":
        state = json.loads(last.json()["body"])
    else:
        state = json.loads(split_stream(last)[1])
    assert state == {"startups": 1, "served": 100, "disconnect": ""}


def test_next_refused_ends_the_runtime() -> None:
    with runtime([*OURS, f"{APPS}.plain.values"]) as emulator:
        emulator.invoke({"kind": "none"})
        emulator._closing.set()  # the API answers /next with an error from now on
        assert emulator.process is not None
        assert emulator.process.wait(20) != 0
        assert "RuntimeAPIError" in emulator.output


def test_invalid_invoke_mode_is_an_init_error() -> None:
    env = {"MANGUM_LIKE_INVOKE_MODE": "streaming"}
    with runtime([*OURS, f"{APPS}.streaming.handler"], env, wait_init=False) as emulator:
        assert emulator.process is not None
        assert emulator.process.wait(20) == 1
        report = emulator.init_errors[0].json()
    assert report["errorType"] == "Runtime.InvalidInvokeMode"
    assert "response_stream" in report["errorMessage"]


def test_plain_function_in_streaming_mode_answers_buffered() -> None:
    with runtime([*OURS, f"{APPS}.plain.values"], STREAMING) as emulator:
        invocation = emulator.invoke({"kind": "none"})
        assert (invocation.kind, invocation.body) == ("response", b"null")
        assert "whose return value is the result: answering buffered" in emulator.output


def test_timings_are_plausible() -> None:
    """Guard against a runtime that sleeps or polls: a warm round trip takes milliseconds."""
    with runtime([*OURS, f"{APPS}.streaming.handler"]) as emulator:
        emulator.invoke(url_event("/echo"))
        started = time.monotonic()
        for _ in range(20):
            emulator.invoke(url_event("/echo"))
        assert (time.monotonic() - started) / 20 < 0.05


# -- lifecycle: the same as under the official client ---------------------------------------------

LIFECYCLE = f"{APPS}.lifecycle.handler"


def lifecycle_lines(emulator: RuntimeAPIEmulator) -> list[str]:
    prefix = "LIFECYCLE "
    return [line[len(prefix) :] for line in emulator.output.splitlines() if line.startswith(prefix)]


def answer(invocation: Invocation) -> tuple[int, bytes]:
    """Status and body of an HTTP answer, buffered or streamed."""
    assert invocation.kind == "response"
    if invocation.headers.get("Lambda-Runtime-Function-Response-Mode") == "streaming":
        prelude, body = split_stream(invocation)
        return prelude["statusCode"], body
    result = invocation.json()
    return result["statusCode"], result["body"].encode()


@pytest.mark.parametrize("mode", ["buffered", "response_stream"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sigterm_runs_lifespan_shutdown(mode: str, backend: str) -> None:
    env = {"MANGUM_LIKE_INVOKE_MODE": mode, "LIFECYCLE_BACKEND": backend}
    with runtime([*OURS, LIFECYCLE], env) as emulator:
        status, body = answer(emulator.invoke(url_event("/count")))
        assert (status, json.loads(body)["served"]) == (200, 1)
        [extension] = emulator.registered_extensions
        assert extension.events == []
        assert emulator.rejected_registrations == []
        end = emulator.end_environment(grace=0.5)
        assert end.signals == ["SIGTERM"], emulator.output  # no SIGKILL: done within 500 ms
        assert end.elapsed < 0.5
        assert end.exit_code == 128 + 15
        assert lifecycle_lines(emulator) == ["startup", "shutdown"]


@pytest.mark.parametrize("mode", ["buffered", "response_stream"])
def test_deadline_guard_answers_504_and_stays_warm(mode: str) -> None:
    env = {"MANGUM_LIKE_INVOKE_MODE": mode, "LIFECYCLE_TIMEOUT_MARGIN": "0.4"}
    with runtime([*OURS, LIFECYCLE], env) as emulator:
        assert answer(emulator.invoke(url_event("/count")))[0] == 200
        slow = emulator.invoke(url_event("/slow", "seconds=5"), timeout_ms=1200)
        assert answer(slow) == (504, b"Gateway Timeout")
        assert slow.duration < 1.2  # before Lambda's own timeout would end the environment
        assert "was cut short" in emulator.output
        status, body = answer(emulator.invoke(url_event("/count")))
        assert (status, json.loads(body)["served"]) == (200, 2)  # same lifespan state
        assert lifecycle_lines(emulator) == [
            "startup",
            "slow saw http.disconnect",
            "slow cancelled",
        ]


def test_deadline_guard_after_the_prelude_ends_the_stream_as_failed() -> None:
    with runtime([*OURS, f"{APPS}.streaming.handler"], STREAMING) as emulator:
        slow = emulator.invoke(url_event("/sse", "events=3&interval=5"), timeout_ms=1500)
        prelude, body = split_stream(slow)
        assert prelude["statusCode"] == 200
        assert body == b"id: 0\nevent: token\ndata: token 0\n\n"
        assert slow.trailers["Lambda-Runtime-Function-Error-Type"] == "TimeoutError"
        assert slow.duration < 1.5
        state = json.loads(split_stream(emulator.invoke(url_event("/state")))[1])
        assert state["startups"] == 1


def test_snap_start_restores_before_the_first_invocation() -> None:
    env = {"LIFECYCLE_INIT_STARTUP": "1"}
    with RuntimeAPIEmulator(snap_start=True) as emulator:
        emulator.start([*OURS, LIFECYCLE], env, cwd=str(ROOT))
        assert emulator.restore_requested.wait(30), emulator.output
        time.sleep(0.2)
        assert lifecycle_lines(emulator) == []  # the snapshot holds no started lifespan
        emulator.restore()
        status, body = answer(emulator.invoke(url_event("/count")))
        assert (status, json.loads(body)["served"]) == (200, 1)
        assert lifecycle_lines(emulator) == ["startup"]
        assert emulator.restore_errors == []
        emulator.end_environment(grace=2.0)


# -- deployment: the bootstrap and the exec wrapper -----------------------------------------------

SCRIPTS = ROOT / "mangum_like" / "scripts"


@pytest.mark.parametrize(
    "command",
    [
        ["/var/runtime/bootstrap.py"],
        ["-Xfrozen_modules=off", "/var/runtime/bootstrap.py"],
        ["-u", "-X", "utf8", "-m", "awslambdaric"],
        ["-m", "awslambdaric", f"{APPS}.streaming.handler"],
    ],
    ids=["script", "option-script", "options-module", "module-handler"],
)
def test_exec_wrapper_replaces_the_official_client(command: list[str]) -> None:
    """Lambda starts the wrapper with the interpreter and the official client's command."""
    env = {**STREAMING, "_HANDLER": f"{APPS}.streaming.handler"}
    argv = [str(SCRIPTS / "exec-wrapper"), sys.executable, *command]
    with runtime(argv, env) as emulator:
        invocation = emulator.invoke(url_event("/sse", "events=3&interval=0.1"))
        prelude, body = split_stream(invocation)  # streamed: our runtime answered
        assert prelude["statusCode"] == 200
        assert body.count(b"data: token") == 3
        assert len(invocation.chunks) == 4


def test_exec_wrapper_without_arguments() -> None:
    import subprocess

    done = subprocess.run(
        [str(SCRIPTS / "exec-wrapper")], capture_output=True, text=True, timeout=10, check=False
    )
    assert done.returncode == 64
    assert "expected the runtime's command" in done.stderr


def test_provided_al2023_bootstrap(tmp_path: Path) -> None:
    env = {
        **STREAMING,
        "_HANDLER": f"{APPS}.streaming.handler",
        "MANGUM_LIKE_PYTHON": sys.executable,
        "LAMBDA_TASK_ROOT": str(ROOT),
    }
    with runtime([str(SCRIPTS / "bootstrap")], env) as emulator:
        prelude, body = split_stream(emulator.invoke(url_event("/cookies")))
        assert prelude["cookies"] == ["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]
        assert body == b"cookies set"


def test_sse_example_streams_its_tokens() -> None:
    """The FastAPI SSE example, as the template deploys it: every event reaches the Runtime API
    as the app yields it."""
    with runtime(OURS, {**STREAMING, "_HANDLER": "examples.sse_streaming.app.handler"}) as api:
        invocation = api.invoke(url_event("/tokens", "prompt=one+two+three&interval=0.2"))
    prelude, body = split_stream(invocation)
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"].startswith("text/event-stream")
    events = [chunk for _, chunk in invocation.chunks[1:]]
    assert [json.loads(event.split(b"data: ")[1]) for event in events] == [
        {"token": "one"},
        {"token": "two"},
        {"token": "three"},
        {"tokens": 3},
    ]
    assert body == b"".join(events)
    arrivals = [at for at, _ in invocation.chunks[1:]]
    assert arrivals[2] - arrivals[0] >= 0.35  # two intervals of 0.2 s: not buffered


@pytest.mark.parametrize("level", [None, "INFO"])
def test_log_lines_carry_the_request_id(level: str | None) -> None:
    """Log records reach stdout in the official format; the level is the function's setting."""
    env = {"AWS_LAMBDA_LOG_LEVEL": level} if level else {}
    with runtime([*OURS, f"{APPS}.plain.logs"], env) as emulator:
        emulator.invoke({}, request_id="request-log-1")
        deadline = time.monotonic() + 5
        while "a warning line" not in emulator.output and time.monotonic() < deadline:
            time.sleep(0.02)
        output = emulator.output
    warning = [line for line in output.splitlines() if line.endswith("a warning line")]
    assert len(warning) == 1
    name, stamp, request_id, _ = warning[0].split("\t")
    assert name == "[WARNING]"
    assert stamp.endswith("Z") and "T" in stamp
    assert request_id == "request-log-1"
    assert ("an info line" in output) is (level == "INFO")


@pytest.mark.parametrize("failing", ["before_snapshot", "after_restore"])
def test_snap_start_hook_failures_are_reported(tmp_path: Path, failing: str) -> None:
    (tmp_path / "hooked.py").write_text(
        "from snapshot_restore_py import register_after_restore, register_before_snapshot\n"
        "\n"
        f"@register_{failing}\n"
        "def hook():\n"
        f"    raise RuntimeError('the {failing} hook failed')\n"
        "\n"
        "def handler(event, context):\n"
        "    return event\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "LAMBDA_TASK_ROOT": str(tmp_path)}
    with RuntimeAPIEmulator(snap_start=True) as emulator:
        emulator.start([*OURS, "hooked.handler"], env, cwd=str(tmp_path))
        assert emulator.process is not None
        if failing == "after_restore":
            assert emulator.restore_requested.wait(30), emulator.output
            emulator.restore()
        code = emulator.process.wait(30)
        reports = emulator.init_errors if failing == "before_snapshot" else emulator.restore_errors
    assert code == (64 if failing == "before_snapshot" else 65)
    [report] = reports
    expected = (
        "Runtime.BeforeSnapshotError"
        if failing == "before_snapshot"
        else ("Runtime.AfterRestoreError")
    )
    assert report.headers["Lambda-Runtime-Function-Error-Type"] == expected
    assert report.json()["errorMessage"] == f"the {failing} hook failed"
