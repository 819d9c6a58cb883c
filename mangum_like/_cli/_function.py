"""What ``MODULE:ATTR`` names, made a Lambda handler; one invocation of it, as Lambda makes it."""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .._adapter import Mangum
from .._exceptions import MangumLikeError
from .._lambda.context import LambdaContext
from .._lambda.errors import MARSHAL_ERROR, RESPONSE_SIZE_TOO_LARGE, FaultError, error_result
from .._lambda.handler import APP, HANDLER, MANGUM, find_attribute, handler_kind, split_handler
from .._lambda.payload import MAX_RESULT_BYTES, escapes_non_ascii, to_json

logger = logging.getLogger("mangum_like.cli")

# Results are written as the Lambda runtime of this Python version writes them.
_ENSURE_ASCII = escapes_non_ascii(f"AWS_Lambda_python3.{sys.version_info.minor}")


class CLIError(Exception):
    """A failure the CLI reports in one message, with the exit status to end with."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# -- the handler ----------------------------------------------------------------------------------


def import_target(spec: str) -> Any:
    """The object an import string names: ``package.module:attr`` or ``package.module.attr``.

    The current directory comes first on ``sys.path``, as with ``python -m``.
    """
    path, _, after = spec.partition(":")
    if path.endswith(".py") or "/" in path or "\\" in path:
        raise CLIError(
            f"{spec!r} names a file; an import string names a module: "
            f"did you mean {_as_import_string(path, after or 'app')!r}?"
        )
    module_name, attrs = split_handler(spec)
    if not module_name or not attrs:
        raise CLIError(
            f"{spec!r} is not an import string: write MODULE:ATTR (such as app.main:handler) "
            "or MODULE.ATTR"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CLIError(
                f"Could not import module {module_name!r}: no module named {missing!r} "
                f"(searched the current directory {cwd} and sys.path)"
            ) from None
        raise CLIError(_raised_in(module_name, exc), 1) from None
    except Exception as exc:
        raise CLIError(_raised_in(module_name, exc), 1) from None
    try:
        return find_attribute(module, attrs)
    except AttributeError:
        raise CLIError(
            f"Module {module_name!r} has no attribute {attrs!r} "
            f"(the module is {getattr(module, '__file__', None) or module_name})"
        ) from None


def _as_import_string(path: str, attrs: str) -> str:
    """``./src/app.py`` and ``app`` -> ``src.app:app``."""
    module = path.replace("\\", "/").removesuffix(".py")
    parts = [part for part in module.split("/") if part not in ("", ".")]
    return ".".join(parts) + ":" + attrs


def _raised_in(module_name: str, exc: BaseException) -> str:
    """The message for an exception raised while the user's module ran: its own traceback."""
    tb: TracebackType | None = exc.__traceback__
    # Leave out the frames of this module and of the import machinery: the user's code starts
    # at the first frame that is neither.
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__ or "importlib" in tb.tb_frame.f_code.co_filename
    ):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return f"Importing module {module_name!r} raised an exception:\n{text.rstrip()}"


class Function:
    """What ``MODULE:ATTR`` names, made a Lambda handler: an ASGI app is wrapped in ``Mangum``."""

    def __init__(self, target: Any, *, base_path: str | None, backend: str | None) -> None:
        self.mangum: Mangum | None = None
        try:
            kind = handler_kind(target)
        except TypeError:
            raise CLIError(
                f"{target!r} is neither an ASGI application nor a Lambda handler (not callable)"
            ) from None
        if kind != APP and (base_path is not None or backend is not None):
            given = "--base-path" if base_path is not None else "--backend"
            what = (
                "a Mangum handler, which has its own"
                if kind == MANGUM
                else f"{target!r}, a Lambda handler (a function of event and context, or a "
                "wrapper around a Mangum handler)"
            )
            raise CLIError(
                f"{given} applies to an ASGI app, and this is {what}: pass it where the Mangum "
                "is made, as Mangum(app, api_gateway_base_path=..., backend=...), or name the "
                "app itself (MODULE:app) to serve it with these options"
            )
        if kind == MANGUM:
            self.mangum = target
            self.handler: Callable[[Any, Any], Any] = target
        elif kind == HANDLER:
            # A wrapper around a Mangum or a plain function: called as Lambda calls it.
            self.handler = target
        else:
            try:
                self.mangum = Mangum(
                    target, api_gateway_base_path=base_path or "/", backend=backend or "asyncio"
                )
            except MangumLikeError as exc:
                raise CLIError(str(exc)) from exc
            self.handler = self.mangum

    @classmethod
    def load(cls, spec: str, *, base_path: str | None, backend: str | None) -> Function:
        return cls(import_target(spec), base_path=base_path, backend=backend)

    def start(self) -> None:
        """Run the app's lifespan startup, once, as the first invocation would."""
        if self.mangum is not None:
            try:
                self.mangum.startup()
            except MangumLikeError as exc:
                # The traceback is logged once already: one line says what happened.
                cause = exc.__cause__
                what = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
                raise CLIError(f"the app's lifespan startup failed ({what})", 1) from exc

    def stop(self) -> None:
        if self.mangum is not None:
            self.mangum.shutdown()

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        return self.handler(event, context)


# -- one invocation, as Lambda makes it ---------------------------------------------------------


class InvocationError(Exception):
    """The invocation failed; ``error`` is its error document, as the runtime loop posts it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error

    @property
    def error_type(self) -> str:
        error_type: str = self.error["errorType"]
        return error_type

    @property
    def stack(self) -> list[str]:
        stack: list[str] = self.error["stackTrace"]
        return stack

    def as_result(self, request_id: str) -> dict[str, Any]:
        """The document Lambda answers the caller with, for the invocation ``request_id``."""
        return {**self.error, "requestId": request_id}


def invoke(function: Function, payload: str, context: LambdaContext) -> Any:
    """Run a JSON event through the handler and return its result as Lambda hands it on.

    The event is decoded from JSON and the result encoded to it, as the runtime does, so the
    handler sees what it sees on Lambda and a result Lambda would refuse fails here too.
    """
    try:
        result = function(json.loads(payload), context)
    except Exception as exc:
        raise _failed(exc) from exc
    return _returned(result)


def _failed(exc: Exception) -> InvocationError:
    # The stack trace starts at the handler: the CLI's own frames are left out.
    return InvocationError(error_result(exc))


def _returned(result: Any) -> Any:
    """The result as Lambda hands it on: written to JSON as the runtime loop writes it, within
    the buffered size quota."""
    try:
        encoded = to_json(result, _ENSURE_ASCII)
    except Exception as exc:
        fault = FaultError(MARSHAL_ERROR, f"Unable to marshal response: {exc}")
        raise _failed(fault) from exc
    if len(encoded.encode("utf-8")) > MAX_RESULT_BYTES:
        fault = FaultError(
            RESPONSE_SIZE_TOO_LARGE,
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESULT_BYTES} "
            "bytes).",
        )
        raise _failed(fault)
    return json.loads(encoded)
