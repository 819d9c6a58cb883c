"""A FastAPI app reporting to Sentry, wrapped the two ways Lambda users do it:

- ``serverless``: ``handler = serverless_function(Mangum(app))`` (sentry_sdk.integrations.
  serverless: an isolation scope per call, a flush after it);
- ``plain``: ``handler = Mangum(app)`` with ``AwsLambdaIntegration()`` in ``sentry_sdk.init``
  (under awslambdaric it patches the client's loop to flush before each post; elsewhere it
  disables itself). ``WRAPPED_SENTRY_AWS_LAMBDA=1`` adds it; the ``serverless`` runs go without.

``sentry_sdk.init`` reads the DSN from ``WRAPPED_SENTRY_DSN`` (the test's local envelope server)
and traces every request (``traces_sample_rate=1.0``), so that spans and breadcrumbs of outgoing
HTTP requests are recorded. The Starlette and FastAPI integrations (enabled by default, as
FastAPI is installed) report the route's exception, which Mangum turns into a 500 answer.

- ``/boom?marker=X``: first makes a request of its own with http.client (``GET
  <WRAPPED_SENTRY_OUTBOUND>?marker=X``: a breadcrumb, a span and trace headers, a control that
  these are recorded), then raises ``RuntimeError("boom X")``; the app answers 500.
- ``/ok``: answers ``ok``.
"""

from __future__ import annotations

import http.client
import os
from urllib.parse import urlsplit

import sentry_sdk
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration
from sentry_sdk.integrations.serverless import serverless_function

from mangum_like import Mangum

DSN = os.environ["WRAPPED_SENTRY_DSN"]
OUTBOUND = os.environ["WRAPPED_SENTRY_OUTBOUND"]

sentry_sdk.init(
    dsn=DSN,
    integrations=[AwsLambdaIntegration()] if os.environ.get("WRAPPED_SENTRY_AWS_LAMBDA") else [],
    traces_sample_rate=1.0,
    # Envelopes as plain text: the test's server reads them as they are.
    _experiments={"transport_compression_level": 0},
)

app = FastAPI()


@app.get("/boom")
def boom(marker: str) -> str:
    address = urlsplit(OUTBOUND)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    try:
        connection.request("GET", f"{address.path}?marker={marker}")
        connection.getresponse().read()
    finally:
        connection.close()
    raise RuntimeError(f"boom {marker}")


@app.get("/ok", response_class=PlainTextResponse)
async def ok() -> str:
    return "ok"


plain = Mangum(app)
serverless = serverless_function(Mangum(app))
