"""A Starlette app behind Powertools' ``Tracer.capture_lambda_handler`` (run with
``POWERTOOLS_TRACE_DISABLED=true``): ``handler = tracer.capture_lambda_handler(Mangum(app))``.

The decorator reads the handler's ``__name__`` when it is applied, at import.

- ``/traced``: answers ``traced``.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum

tracer = Tracer(service="wrapped-e2e")


async def traced(request: Request) -> PlainTextResponse:
    return PlainTextResponse("traced")


app = Starlette(routes=[Route("/traced", traced)])

handler = tracer.capture_lambda_handler(Mangum(app))
