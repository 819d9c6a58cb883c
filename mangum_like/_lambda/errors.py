"""How a failed invocation is reported: the error document, its type and the headers it goes in.

The document is the official Python runtime's: ``errorMessage``, ``errorType``, ``requestId``
and ``stackTrace`` (Runtime API reference, "Invocation error"). The runtime loop posts it to the
Runtime API with its type in ``Lambda-Runtime-Function-Error-Type`` and an X-Ray cause; the CLI
prints it (``invoke``) or logs it (``serve``). Failures of the runtime itself carry the official
client's ``Runtime.*`` types.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
XRAY_ERROR_CAUSE = "Lambda-Runtime-Function-XRay-Error-Cause"
_XRAY_CAUSE_MAX = 1024 * 1024  # the official client drops a larger cause rather than fail

# The official client's error types for a handler it cannot load (awslambdaric's FaultException).
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
MARSHAL_ERROR = "Runtime.MarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
# Lambda's own, for a buffered result over its quota (payload.MAX_RESULT_BYTES).
RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"

# The files whose code calls the handler on Lambda's behalf: the runtime loop, and the CLI's
# invocation and dev server. A stack trace starts at the first frame outside them, as the
# official one starts at the first frame outside its bootstrap.
_PACKAGE = os.path.dirname(os.path.dirname(__file__))
CALLERS = frozenset(
    os.path.join(_PACKAGE, *parts)
    for parts in (("runtime.py",), ("_cli", "_function.py"), ("_cli", "_server.py"))
)


class FaultError(Exception):
    """A failure reported with one of the official ``Runtime.*`` error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def error_result(
    exc: BaseException, request_id: str | None = None, skip: Collection[str] = CALLERS
) -> dict[str, Any]:
    """The official error document of ``exc``: errorMessage, errorType, requestId, stackTrace.

    The stack trace leaves out the first frames, those in the files ``skip`` names (every frame
    is kept when all are).
    """
    import traceback

    if isinstance(exc, FaultError):
        message, error_type, trace = exc.message, exc.error_type, exc.trace
    else:
        frames: list[traceback.FrameSummary] = list(traceback.extract_tb(exc.__traceback__))
        for index, frame in enumerate(frames):
            if frame.filename not in skip:
                frames = frames[index:]
                break
        message, error_type = str(exc), type(exc).__name__
        trace = traceback.format_list(frames)
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace,
    }


def _xray_cause(exc: BaseException, error: dict[str, Any]) -> str:
    """The X-Ray error cause the official client sends with an invocation error."""
    import json
    import traceback

    stack = []
    paths = []
    if not isinstance(exc, FaultError):
        for frame in traceback.extract_tb(exc.__traceback__):
            stack.append({"label": frame.name, "path": frame.filename, "line": frame.lineno})
            if frame.filename not in paths:
                paths.append(frame.filename)
    cause = {
        "working_directory": os.getcwd(),
        "exceptions": [
            {"message": error["errorMessage"], "type": error["errorType"], "stack": stack}
        ],
        "paths": paths,
    }
    return json.dumps(cause)
