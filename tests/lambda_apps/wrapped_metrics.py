"""A FastAPI app behind Powertools' ``Metrics.log_metrics``: ``handler =
metrics.log_metrics(Mangum(app))``; the namespace comes from ``POWERTOOLS_METRICS_NAMESPACE``.

- ``/hit?n=N``: adds the metric ``Hits`` (Count) of value N, answers ``N``. ``log_metrics``
  writes one EMF document to stdout at the end of each invocation.
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from mangum_like import Mangum

metrics = Metrics(service="wrapped-e2e")
app = FastAPI()


@app.get("/hit", response_class=PlainTextResponse)
async def hit(n: int) -> str:
    metrics.add_metric(name="Hits", unit=MetricUnit.Count, value=n)
    return str(n)


handler = metrics.log_metrics(Mangum(app))
