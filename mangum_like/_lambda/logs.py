"""Log records written where the official Python runtime client writes them, in its format."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable


def setup_logging(request_id: Callable[[], str], root: logging.Logger | None = None) -> None:
    """Send log records where the official client sends them, in its text format, unless the
    root logger has a handler already.

    ``[LEVEL]\t2026-11-21T05:00:00.000Z\t<request id>\tmessage``, the request id being what
    ``request_id()`` gives when the record is made. On the managed runtimes Lambda passes a
    telemetry pipe in ``_LAMBDA_TELEMETRY_LOG_FD``: records go there as frames, so that a
    multi-line record (a traceback) stays one log event; elsewhere they go to stdout. The level
    follows ``AWS_LAMBDA_LOG_LEVEL`` when it is set.
    """
    if root is None:
        root = logging.getLogger()
    if root.handlers:
        return
    descriptor = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    handler: logging.Handler
    if descriptor is not None and descriptor.isdigit():
        handler = TelemetryLogHandler(int(descriptor))
    else:
        handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime

    def add_request_id(record: logging.LogRecord) -> bool:
        record.aws_request_id = request_id()
        return True

    handler.setFormatter(formatter)
    handler.addFilter(add_request_id)
    root.addHandler(handler)
    # As under the official client: the root logger keeps Python's default level (WARNING)
    # unless the function's logging configuration sets one.
    level = logging.getLevelName((os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper())
    if isinstance(level, int):
        root.setLevel(level)


class TelemetryLogHandler(logging.Handler):
    """Writes records to Lambda's telemetry pipe, one frame each.

    A frame is a 4-byte type (text records: ``0xA55A0003``, plus a level marker), the 4-byte
    length of the message, an 8-byte timestamp in microseconds, then the UTF-8 message, all
    big-endian: the framing the official client uses for the same pipe.
    """

    def __init__(self, descriptor: int) -> None:
        super().__init__()
        self.file = os.fdopen(descriptor, "wb", 0)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record).encode("utf-8", "replace")
            level = min(50, max(0, record.levelno)) // 10 * 10
            header = (_FRAME_TYPES.get(level, _FRAME_TYPES[0]) << 96) | (len(message) << 64)
            header |= int(record.created * 1_000_000)
            self.file.write(header.to_bytes(16, "big") + message)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        super().close()


# Frame types of text records by level.
_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0003,
    logging.DEBUG: 0xA55A000B,
    logging.INFO: 0xA55A000F,
    logging.WARNING: 0xA55A0013,
    logging.ERROR: 0xA55A0017,
    logging.CRITICAL: 0xA55A001B,
}
