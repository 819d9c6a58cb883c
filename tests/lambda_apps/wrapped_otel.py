"""A Starlette app instrumented with OpenTelemetry's ``AwsLambdaInstrumentor``, the way a Lambda
function sets it up without the OTel layer: a ``TracerProvider`` at import, then
``AwsLambdaInstrumentor().instrument()`` once the handler exists.

The instrumentor finds the handler by name, in ``ORIG_HANDLER`` or else ``_HANDLER`` (which
Lambda sets from the handler setting): ``module.attr``, split at the last dot, and replaces the
module's attribute with a wrapt ``FunctionWrapper`` around it (``wrap_function_wrapper``). It
does nothing unless ``AWS_LAMBDA_FUNCTION_NAME`` is set. The wrapper starts one SERVER span per
call, named after the function, its parent from ``event_context_extractor(event)``, and
force-flushes the provider before it returns.

Spans go through a ``SimpleSpanProcessor`` (exported as each ends) to a small exporter that
appends one JSON line per span to the file ``WRAPPED_OTEL_SPANS`` names. With
``WRAPPED_OTEL_PARENT=xray`` the instrumentor gets an ``event_context_extractor`` that reads the
invocation's X-Ray header from ``_X_AMZN_TRACE_ID`` (which the runtime sets from
``Lambda-Runtime-Trace-Id``) with the X-Ray propagator; otherwise it uses its default, the W3C
``traceparent`` of the event's HTTP headers.

- ``/traced``: answers ``traced``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum


class JSONLinesExporter(SpanExporter):
    """Appends one JSON line per finished span to a file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            context = span.get_span_context()
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "kind": span.kind.name,
                        "trace_id": format(context.trace_id, "032x") if context else None,
                        "span_id": format(context.span_id, "016x") if context else None,
                        "parent": format(parent.span_id, "016x") if parent else None,
                        "parent_remote": bool(parent and parent.is_remote),
                        "sampled": bool(context and context.trace_flags.sampled),
                        "attributes": dict(span.attributes or {}),
                    }
                )
            )
        with self.lock, open(self.path, "a", encoding="utf-8") as file:
            file.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


def xray_parent(event: Any) -> Context:
    """The invocation's X-Ray trace header, as the runtime put it in ``_X_AMZN_TRACE_ID``."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    return AwsXRayPropagator().extract({"X-Amzn-Trace-Id": header})


provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(JSONLinesExporter(os.environ["WRAPPED_OTEL_SPANS"]))
)
trace.set_tracer_provider(provider)


async def traced(request: Request) -> PlainTextResponse:
    await asyncio.sleep(int(request.query_params.get("ms", "0")) / 1000)  # ?ms=: in flight a while
    return PlainTextResponse("traced")


app = Starlette(routes=[Route("/traced", traced)])

handler = Mangum(app)

if os.environ.get("WRAPPED_OTEL_PARENT") == "xray":
    AwsLambdaInstrumentor().instrument(event_context_extractor=xray_parent)
else:
    AwsLambdaInstrumentor().instrument()
