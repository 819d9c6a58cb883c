"""A FastAPI app behind Powertools' ``Logger.inject_lambda_context``, the way Lambda users wrap
their handler: ``handler = logger.inject_lambda_context(...)(Mangum(app))``. Run by name
(``tests.lambda_apps.wrapped_logger.handler``) under awslambdaric and under our runtime, in a
subprocess (tests/test_wrapped_handlers.py).

- ``/log?marker=X&ms=N``: logs ``handling`` with the same Powertools logger (the marker as an
  extra key), awaits N ms (default 0), logs ``done``, answers ``X``.

``thread_safe_handler`` wraps ``handler`` once more: it first sets ``function_request_id`` and
``correlation_id`` with ``logger.thread_safe_append_keys`` (a ContextVar, which the formatter
applies over the keys ``inject_lambda_context`` appends to its one shared dict).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from mangum_like import Mangum

SERVICE = "wrapped-e2e"

logger = Logger(service=SERVICE)
app = FastAPI()


@app.get("/log", response_class=PlainTextResponse)
async def log(marker: str, ms: int = 0) -> str:
    logger.info("handling", extra={"marker": marker})
    await asyncio.sleep(ms / 1000)
    logger.info("done", extra={"marker": marker})
    return marker


handler = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(
    Mangum(app)
)


def thread_safe_handler(event: Any, context: Any) -> Any:
    logger.thread_safe_append_keys(
        function_request_id=context.aws_request_id,
        correlation_id=event["requestContext"]["requestId"],
    )
    return handler(event, context)
