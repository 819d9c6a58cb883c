"""Log records as Lambda's official Python client writes them (``mangum_like._lambda.logs``): the
JSON lines checked against the client's own formatter, the telemetry pipe's frames against its own
handler and sink, the level against its reading of ``AWS_LAMBDA_LOG_LEVEL``, and the invocation
ids of records made by concurrent tasks and threads.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup
from awslambdaric import bootstrap  # type: ignore[import-untyped]
from awslambdaric.lambda_runtime_log_utils import (  # type: ignore[import-untyped]
    _JSON_FRAME_TYPES,
    _TEXT_FRAME_TYPES,
    _format_log_level,
    _get_log_level_from_env_var,
)
from awslambdaric.lambda_runtime_log_utils import (
    JsonFormatter as OfficialJsonFormatter,
)

from mangum_like._lambda.logs import (
    REQUEST_ID,
    TENANT_ID,
    LogFormat,
    TelemetryLogHandler,
    log_level,
    setup_logging,
)

REQUEST = "8f507cfc-8b5c-4a6b-9d4e-0c4a3f6f1c2e"


@pytest.fixture(autouse=True)
def _no_logging_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a function without a logging configuration; it sets what it needs."""
    for name in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "_LAMBDA_TELEMETRY_LOG_FD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """A root logger as a fresh runtime process has it: no handler, the default level."""
    root = logging.Logger("root", logging.WARNING)
    yield root
    for handler in root.handlers:
        handler.close()


@pytest.fixture
def logger(root: logging.Logger) -> logging.Logger:
    """A module's logger under ``root``, at the level ``root`` has."""
    logger = logging.Logger("app.orders")
    logger.parent = root
    return logger


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """A local time zone hours away from UTC, so that a local timestamp cannot pass for UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "XST+09:30"  # POSIX form: no time zone database needed
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class Records(logging.Handler):
    """Keeps the records it is given (added after ``setup_logging``'s handler, it sees them with
    the invocation's ids set)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def serving(request_id: str, tenant_id: str | None = None) -> Iterator[None]:
    """The ids of one invocation, set for the block as the runtime loop sets them."""
    request_token = REQUEST_ID.set(request_id)
    tenant_token = TENANT_ID.set(tenant_id)
    try:
        yield
    finally:
        TENANT_ID.reset(tenant_token)
        REQUEST_ID.reset(request_token)


def official_formatter() -> logging.Formatter:
    formatter: logging.Formatter = OfficialJsonFormatter()
    # The official client sets this for every formatter when it starts (``_setup_logging``).
    formatter.converter = time.gmtime
    return formatter


def official_line(record: logging.LogRecord) -> str:
    """The line the official client writes for ``record`` (formatting a copy: its formatter
    changes the record it formats)."""
    line: str = official_formatter().format(copy.copy(record))
    return line


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def read_frames(descriptor: int) -> list[tuple[int, int, bytes]]:
    """Every frame in a pipe whose write end is closed: (type, timestamp in µs, message)."""
    frames = []
    with os.fdopen(descriptor, "rb") as pipe:
        while header := pipe.read(16):
            length = int.from_bytes(header[4:8], "big")
            message = pipe.read(length)
            assert len(message) == length
            frames.append(
                (int.from_bytes(header[:4], "big"), int.from_bytes(header[8:], "big"), message)
            )
    return frames


# -- what a function logs -----------------------------------------------------------------------


def plain(logger: logging.Logger) -> None:
    logger.warning("order received")


def percent_args(logger: logging.Logger) -> None:
    logger.warning("%s has %d items (%.1f%%)", "cart", 3, 42.5)


def mapping_args(logger: logging.Logger) -> None:
    logger.warning("%(user)s signed in", {"user": "ann"})


def dict_message(logger: logging.Logger) -> None:
    logger.warning({"event": "order", "items": [1, 2], "total": Decimal("1.10"), "ok": None})


def non_ascii(logger: logging.Logger) -> None:
    logger.warning('h\u00e9llo \u2713 \U0001f600 "quoted" \\ \n\ttab \u2028')


def exception(logger: logging.Logger) -> None:
    orders: dict[str, int] = {}
    try:
        orders["missing"]
    except KeyError:
        logger.exception("lookup failed")


def chained_exception(logger: logging.Logger) -> None:
    try:
        try:
            int("x")
        except ValueError as exc:
            raise RuntimeError("cannot price the order") from exc
    except RuntimeError as exc:
        logger.error("pricing failed", exc_info=exc)


def exception_never_raised(logger: logging.Logger) -> None:
    logger.error("refused", exc_info=PermissionError("no traceback"))


def extra_fields(logger: logging.Logger) -> None:
    extra = {
        "orderId": 7,
        "path": "/orders",
        "tags": ["a", "b"],
        "dropped": None,
        "amount": Decimal("1.10"),
        "day": date(2026, 12, 5),
        "codes": {3},
    }
    logger.warning("with extras", extra=extra)


def extra_named_like_fields(logger: logging.Logger) -> None:
    logger.warning("x", extra={"requestId": "spoofed", "level": "LOUD", "tenantId": "extra"})


def custom_level(logger: logging.Logger) -> None:
    logger.log(25, "between INFO and WARNING")


def below_debug(logger: logging.Logger) -> None:
    logger.log(5, "finer than DEBUG")


def above_critical(logger: logging.Logger) -> None:
    logger.log(60, "beyond CRITICAL")


def stack_info(logger: logging.Logger) -> None:
    logger.warning("where am I", stack_info=True)


CASES: list[Callable[[logging.Logger], None]] = [
    plain,
    percent_args,
    mapping_args,
    dict_message,
    non_ascii,
    exception,
    chained_exception,
    exception_never_raised,
    extra_fields,
    extra_named_like_fields,
    custom_level,
    below_debug,
    above_critical,
    stack_info,
]


class TestJsonFormat:
    @pytest.mark.parametrize(
        "ids",
        [("", None), (REQUEST, None), (REQUEST, "tenant-a")],
        ids=["outside-an-invocation", "request", "request-and-tenant"],
    )
    @pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
    @pytest.mark.usefixtures("far_from_utc")
    def test_lines_are_the_official_clients(
        self,
        case: Callable[[logging.Logger], None],
        ids: tuple[str, str | None],
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        setup_logging(root=root)
        records = Records()
        root.addHandler(records)
        logger.setLevel(1)
        with serving(*ids):
            case(logger)
        [record] = records.records
        # The whole line, the order of the fields and the newline included.
        assert capsys.readouterr().out == official_line(record)

    @pytest.mark.usefixtures("far_from_utc")
    def test_fields(
        self,
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "json")
        setup_logging(root=root)
        records = Records()
        root.addHandler(records)
        with serving(REQUEST, "tenant-a"):
            logger.warning("%d items", 3, extra={"orderId": 7, "amount": Decimal("1.10")})
        [line] = json_lines(capsys.readouterr().out)
        [record] = records.records
        assert line == {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": "WARNING",
            "message": "3 items",
            "logger": "app.orders",
            "requestId": REQUEST,
            "tenantId": "tenant-a",
            "orderId": 7,
            "amount": "1.10",
        }
        # Set on the record too, for a function's own formatters.
        assert vars(record) | {"aws_request_id": REQUEST, "tenant_id": "tenant-a"} == vars(record)

    def test_exception_fields(
        self,
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        setup_logging(root=root)
        records = Records()
        root.addHandler(records)
        exception(logger)
        [line] = json_lines(capsys.readouterr().out)
        [record] = records.records
        assert [*line] == [
            "timestamp",
            "level",
            "message",
            "logger",
            "stackTrace",
            "errorType",
            "errorMessage",
            "requestId",
            "location",
        ]
        assert (line["level"], line["errorType"], line["errorMessage"]) == (
            "ERROR",
            "KeyError",
            "'missing'",
        )
        assert line["location"] == f"{__file__}:exception:{record.lineno}"
        [frame] = line["stackTrace"]
        assert frame.startswith(f'  File "{__file__}", line ') and 'orders["missing"]' in frame

    def test_exc_info_outside_an_exception_adds_no_error(
        self,
        root: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        setup_logging(root=root)
        root.warning("nothing raised", exc_info=True)  # exc_info is (None, None, None) here
        [line] = json_lines(capsys.readouterr().out)
        assert [*line] == ["timestamp", "level", "message", "logger", "requestId"]

    @pytest.mark.parametrize("value", ["Text", "text", "XML", "", " JSON"])
    def test_any_other_format_is_text(
        self,
        value: str,
        root: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", value)
        setup_logging(root=root)
        with serving(REQUEST, "tenant-a"):
            root.warning("not JSON")
        assert capsys.readouterr().out.endswith(f"Z\t{REQUEST}\tnot JSON\n")


class TestTelemetryFrames:
    def test_json_records_are_framed_as_by_the_official_client(
        self, root: logging.Logger, logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ours, our_end = os.pipe()
        theirs, their_end = os.pipe()
        monkeypatch.setenv("_LAMBDA_TELEMETRY_LOG_FD", str(our_end))
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        setup_logging(root=root)
        records = Records()
        root.addHandler(records)
        sink = bootstrap.FramedTelemetryLogSink(their_end)
        sink.__enter__()
        official = bootstrap.LambdaLoggerHandlerWithFrameType(sink)
        official.setFormatter(official_formatter())
        root.addHandler(official)  # last: the official formatter changes the record's level
        logger.setLevel(1)
        levels = [5, logging.DEBUG, logging.INFO, 25, logging.WARNING, 45, logging.CRITICAL, 60]
        with serving(REQUEST):
            for level in levels:
                logger.log(level, "two\nlines at %d", level)
        root.handlers[0].close()
        sink.__exit__(None, None, None)

        our_frames, their_frames = read_frames(ours), read_frames(theirs)
        assert [kind for kind, _, _ in our_frames] == [
            int.from_bytes(_JSON_FRAME_TYPES[level], "big")
            for level in (0, 10, 20, 20, 30, 40, 50, 50)
        ]
        assert [kind for kind, _, _ in our_frames] == [kind for kind, _, _ in their_frames]
        # The official client ends each message with a newline, which a frame does not need.
        assert [message + b"\n" for _, _, message in our_frames] == [
            message for _, _, message in their_frames
        ]
        # Ours are stamped when the record was made, the official client's when written.
        assert [stamp for _, stamp, _ in our_frames] == [
            int(record.created * 1_000_000) for record in records.records
        ]
        for (_, our_stamp, _), (_, their_stamp, _) in zip(our_frames, their_frames, strict=True):
            assert our_stamp <= their_stamp < our_stamp + 5_000_000

    @pytest.mark.parametrize(
        ("log_format", "official_types"),
        [("Text", _TEXT_FRAME_TYPES), ("JSON", _JSON_FRAME_TYPES)],
        ids=["Text", "JSON"],
    )
    def test_frame_type_by_level(
        self, log_format: LogFormat, official_types: dict[int, bytes]
    ) -> None:
        levels = [-5, 0, 1, 9, 10, 15, 20, 29, 30, 40, 49, 50, 51, 1000]
        read_end, write_end = os.pipe()
        handler = TelemetryLogHandler(write_end, log_format)
        made = [
            logging.LogRecord("app", level, __file__, 1, "at %d", (level,), None)
            for level in levels
        ]
        for record in made:
            handler.handle(record)
        handler.close()
        assert [
            (kind, stamp, message.decode()) for kind, stamp, message in read_frames(read_end)
        ] == [
            (
                int.from_bytes(official_types[_format_log_level(record)], "big"),
                int(record.created * 1_000_000),
                f"at {record.levelno}",
            )
            for record in made
        ]


class TestLevel:
    @pytest.mark.parametrize(
        "value",
        [
            *("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"),
            *("NOTSET", "", "VERBOSE", None),
        ],
    )
    def test_read_as_the_official_client_reads_it(self, value: str | None) -> None:
        official = logging._nameToLevel.get(_get_log_level_from_env_var(value))
        assert log_level(value) == official

    @pytest.mark.parametrize(
        ("value", "level"),
        [("trace", logging.DEBUG), ("Info", logging.INFO), ("warn", logging.WARNING)],
    )
    def test_in_any_case(self, value: str, level: int) -> None:
        assert log_level(value) == level

    @pytest.mark.parametrize(
        ("value", "levels"),
        [
            ("TRACE", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
            ("info", ["INFO", "WARNING", "ERROR", "CRITICAL"]),
            ("WARN", ["WARNING", "ERROR", "CRITICAL"]),
            ("FATAL", ["CRITICAL"]),
            (None, ["WARNING", "ERROR", "CRITICAL"]),  # Python's default, left alone
        ],
        ids=["TRACE", "info", "WARN", "FATAL", "unset"],
    )
    def test_filters_json_records(
        self,
        value: str | None,
        levels: list[str],
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        if value is not None:
            monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", value)
        setup_logging(root=root)
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, 50):
            logger.log(level, "at %d", level)
        assert [line["level"] for line in json_lines(capsys.readouterr().out)] == levels


class TestInvocationIds:
    def test_text_records_carry_the_context_variable(
        self,
        root: logging.Logger,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        setup_logging(root=root)
        root.warning("before")
        with serving(REQUEST, "tenant-a"):
            root.warning("during")
        root.warning("after")
        lines = capsys.readouterr().out.splitlines()
        assert [line.split("\t", 2)[2] for line in lines] == [
            "\tbefore",
            f"{REQUEST}\tduring",
            "\tafter",
        ]

    def test_a_request_id_callable_comes_first(
        self,
        root: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        setup_logging(lambda: "from-the-callable", root)
        with serving(REQUEST, "tenant-a"):
            root.warning("called")
        [line] = json_lines(capsys.readouterr().out)
        assert (line["requestId"], line["tenantId"]) == ("from-the-callable", "tenant-a")

    @pytest.mark.anyio
    async def test_concurrent_tasks(
        self,
        anyio_backend: str,
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "INFO")
        setup_logging(root=root)

        async def invocation(number: int) -> None:
            for step in range(3):
                logger.info("step", extra={"invocation": number, "step": step})
                await anyio.lowlevel.checkpoint()  # the others run in between

        async def poll(tasks: TaskGroup) -> None:
            # Sets each invocation's ids, then starts it: the task keeps its copy of them.
            for number in range(4):
                REQUEST_ID.set(f"request-{number}")
                TENANT_ID.set(f"tenant-{number}" if number % 2 else None)
                tasks.start_soon(invocation, number)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(poll, tasks)
        lines = json_lines(capsys.readouterr().out)

        assert sorted(
            (line["invocation"], line["step"], line["requestId"], line.get("tenantId"))
            for line in lines
        ) == [
            (number, step, f"request-{number}", f"tenant-{number}" if number % 2 else None)
            for number in range(4)
            for step in range(3)
        ]
        assert {line["invocation"] for line in lines[:4]} == {0, 1, 2, 3}  # interleaved
        assert (REQUEST_ID.get(), TENANT_ID.get()) == ("", None)  # the test's own: untouched

    def test_concurrent_threads(
        self,
        root: logging.Logger,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
        monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "INFO")
        setup_logging(root=root)
        in_step = threading.Barrier(4, timeout=10)

        def invocation(number: int) -> None:
            REQUEST_ID.set(f"request-{number}")
            TENANT_ID.set(f"tenant-{number}" if number % 2 else None)
            for step in range(3):
                in_step.wait()  # every thread logs step n before any logs step n + 1
                logger.info("step", extra={"invocation": number, "step": step})

        threads = [threading.Thread(target=invocation, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        with serving(REQUEST):
            root.info("the main thread's")
        for thread in threads:
            thread.join()
        lines = json_lines(capsys.readouterr().out)

        assert [line["requestId"] for line in lines if "invocation" not in line] == [REQUEST]
        steps = [line for line in lines if "invocation" in line]
        assert sorted(
            (line["invocation"], line["step"], line["requestId"], line.get("tenantId"))
            for line in steps
        ) == [
            (number, step, f"request-{number}", f"tenant-{number}" if number % 2 else None)
            for number in range(4)
            for step in range(3)
        ]
        assert [line["step"] for line in steps] == [0] * 4 + [1] * 4 + [2] * 4  # interleaved
