"""Log records written where the official Python runtime client writes them, in its formats.

``AWS_LAMBDA_LOG_FORMAT`` chooses the format, as under the official client: ``JSON`` (in any
case; Lambda Managed Instances always set it) makes one JSON object per record, anything else
the text line. Each record carries the id of the invocation whose code made it, read from
:data:`REQUEST_ID` and :data:`TENANT_ID` when the record is handled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Literal

REQUEST_ID: ContextVar[str] = ContextVar("aws_request_id", default="")
"""The request id of the invocation being served; ``""`` outside any invocation.

Set it in the task or thread that serves the invocation: asyncio and trio tasks start with a
copy of their creator's variables and threads with their own, so concurrent invocations on one
event loop or on several threads each log under their own id.
"""

TENANT_ID: ContextVar[str | None] = ContextVar("tenant_id", default=None)
"""The tenant id of the invocation being served (``Lambda-Runtime-Aws-Tenant-Id``), ``None``
for a function without tenant isolation. Set it alongside :data:`REQUEST_ID`."""

LogFormat = Literal["Text", "JSON"]
"""The values of a function's ``LoggingConfig.LogFormat``."""


def setup_logging(
    request_id: Callable[[], str] | None = None, root: logging.Logger | None = None
) -> None:
    """Send log records where the official client sends them, in its format, unless the root
    logger has a handler already.

    The text format is ``[LEVEL]\\t2026-11-21T05:00:00.000Z\\t<request id>\\tmessage``; with
    ``AWS_LAMBDA_LOG_FORMAT=JSON`` each record is a JSON object (:class:`JsonFormatter`). The
    request id is what ``request_id()`` gives when the record is handled, by default the value
    of :data:`REQUEST_ID`; the tenant id is the value of :data:`TENANT_ID`. Both are set on the
    record too, as ``aws_request_id`` and ``tenant_id``.

    On the managed runtimes Lambda passes a telemetry pipe in ``_LAMBDA_TELEMETRY_LOG_FD``:
    records go there as frames, so that a multi-line record (a traceback) stays one log event;
    elsewhere they go to stdout. The level follows ``AWS_LAMBDA_LOG_LEVEL`` when it is set.
    """
    if root is None:
        root = logging.getLogger()
    if root.handlers:
        return
    log_format: LogFormat = "Text"
    if (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON":
        log_format = "JSON"
    descriptor = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    handler: logging.Handler
    if descriptor is not None and descriptor.isdigit():
        handler = TelemetryLogHandler(int(descriptor), log_format)
    else:
        handler = logging.StreamHandler(sys.stdout)
    if log_format == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    current_request_id = REQUEST_ID.get if request_id is None else request_id

    def add_invocation(record: logging.LogRecord) -> bool:
        # A handler's filters run in the thread and context that made the record.
        record.aws_request_id = current_request_id()
        record.tenant_id = TENANT_ID.get()
        return True

    handler.addFilter(add_invocation)
    root.addHandler(handler)
    # As under the official client: the root logger keeps Python's default level (WARNING)
    # unless the function's logging configuration sets one.
    level = log_level(os.environ.get("AWS_LAMBDA_LOG_LEVEL"))
    if level is not None:
        root.setLevel(level)


def log_level(name: str | None) -> int | None:
    """The logging level for an ``AWS_LAMBDA_LOG_LEVEL`` value, ``None`` for no or an unknown
    value.

    Lambda's levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL: Python has no TRACE, which
    becomes DEBUG as under the official client; WARN and FATAL are Python's own aliases.
    """
    key = (name or "").upper()
    level = logging.getLevelName("DEBUG" if key == "TRACE" else key)
    return level if isinstance(level, int) else None


#: The record attribute (``extra={ERROR_DOCUMENT: document}``) that holds the error document of
#: a failed invocation or init: in the JSON format the line is that document.
ERROR_DOCUMENT = "lambda_error_document"


class JsonFormatter(logging.Formatter):
    """Formats a record as the official client's JSON log format does.

    The fields, in this order, those valued ``None`` left out: ``timestamp`` (UTC, to the
    second), ``level`` (the record's level rounded down to a standard one), ``message`` (a dict
    logged without arguments stays an object), ``logger``; for a record with an exception
    ``stackTrace`` (the traceback's frames), ``errorType``, ``errorMessage``; ``requestId``;
    ``location`` (``path:function:line`` of the logging call, with an exception only);
    ``tenantId``; then the record's extra attributes (``extra=``), a value JSON cannot hold
    written as its ``str()``.
    """

    def __init__(self) -> None:
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%SZ")
        self.converter = time.gmtime
        self.encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

    def format(self, record: logging.LogRecord) -> str:
        document = getattr(record, ERROR_DOCUMENT, None)
        if document is not None:
            # An invocation's or the init's error, logged as the official client logs it in
            # JSON: the error document's fields at the top level, after the time and level.
            return self.encode(
                {"timestamp": self.formatTime(record, self.datefmt), "level": "ERROR", **document}
            )
        message = record.msg
        if not (isinstance(message, dict) and not record.args):
            message = record.getMessage()
        exc_info = record.exc_info
        # exc_info=True outside an exception handler leaves (None, None, None): no error then.
        error = exc_info if exc_info and exc_info[0] is not None else None
        fields: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": logging.getLevelName(_standard_level(record)),
            "message": message,
            "logger": record.name,
            "stackTrace": traceback.format_tb(error[2]) if error else None,
            "errorType": error[0].__name__ if error else None,
            "errorMessage": str(error[1]) if error else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if error else None,
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            fields["tenantId"] = tenant_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in fields:
                fields[key] = value
        return self.encode({key: value for key, value in fields.items() if value is not None})


class TelemetryLogHandler(logging.Handler):
    """Writes records to Lambda's telemetry pipe, one frame each.

    A frame is a 4-byte type (a base for the log format, text ``0xA55A0003`` or JSON
    ``0xA55A0002``, plus a level marker), the 4-byte length of the message, an 8-byte timestamp
    in microseconds, then the UTF-8 message, all big-endian: the framing the official client
    uses for the same pipe.
    """

    def __init__(self, descriptor: int, log_format: LogFormat = "Text") -> None:
        super().__init__()
        self.frame_types = _FRAME_TYPES[log_format]
        self.file = os.fdopen(descriptor, "wb", 0)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record).encode("utf-8", "replace")
            header = (self.frame_types[_standard_level(record)] << 96) | (len(message) << 64)
            header |= int(record.created * 1_000_000)
            self.file.write(header.to_bytes(16, "big") + message)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        super().close()


def _standard_level(record: logging.LogRecord) -> int:
    # Lambda knows the standard levels only: a custom one counts as the standard one below it.
    return min(logging.CRITICAL, max(logging.NOTSET, record.levelno)) // 10 * 10


# Frame types by log format and level.
_FRAME_TYPES: dict[LogFormat, dict[int, int]] = {
    "Text": {
        logging.NOTSET: 0xA55A0003,
        logging.DEBUG: 0xA55A000B,
        logging.INFO: 0xA55A000F,
        logging.WARNING: 0xA55A0013,
        logging.ERROR: 0xA55A0017,
        logging.CRITICAL: 0xA55A001B,
    },
    "JSON": {
        logging.NOTSET: 0xA55A0002,
        logging.DEBUG: 0xA55A000A,
        logging.INFO: 0xA55A000E,
        logging.WARNING: 0xA55A0012,
        logging.ERROR: 0xA55A0016,
        logging.CRITICAL: 0xA55A001A,
    },
}

# What a record holds besides its extra attributes: Python's own attributes (``taskName`` from
# 3.12 on), those its formatters add, and the invocation's ids, written as fields of their own.
_RECORD_ATTRIBUTES = frozenset(
    [
        *vars(logging.LogRecord("", logging.NOTSET, "", 0, "", None, None)),
        "message",
        "asctime",
        "aws_request_id",
        "tenant_id",
    ]
)
