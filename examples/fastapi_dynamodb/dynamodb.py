"""Where the items table lives: DynamoDB on AWS, an endpoint you name, or an embedded moto server.

The rule (also in this example's README.md), decided once, when the lifespan starts:

1. ``ITEMS_EMBEDDED_DYNAMODB=1`` forces the embedded server; ``ITEMS_EMBEDDED_DYNAMODB=0``
   forbids it (say, to use your own AWS account from a laptop).
2. Otherwise the embedded server starts only off Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is unset:
   Lambda sets it in every function's environment) and when no endpoint is configured
   (``AWS_ENDPOINT_URL_DYNAMODB`` and ``AWS_ENDPOINT_URL`` are unset; boto3 reads both itself).

The embedded server is moto's ``ThreadedMotoServer`` on 127.0.0.1 and an ephemeral port, with the
table already created: the app runs with no AWS account. moto is imported only in that case, so
the Lambda package does not need it.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBServiceResource
    from mypy_boto3_dynamodb.service_resource import Table

logger = logging.getLogger(__name__)

TABLE_NAME_VARIABLE = "TABLE_NAME"
DEFAULT_TABLE_NAME = "items"
EMBEDDED_VARIABLE = "ITEMS_EMBEDDED_DYNAMODB"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
# The region an embedded server pretends to be in; any name works for moto.
EMBEDDED_REGION = "us-east-1"


def embedded_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the rule above asks for the embedded moto server."""
    forced = environ.get(EMBEDDED_VARIABLE, "").strip().lower()
    if forced in ("1", "true", "yes", "on"):
        return True
    if forced in ("0", "false", "no", "off"):
        return False
    if forced:
        raise ValueError(f"{EMBEDDED_VARIABLE} must be 1 or 0 (or unset), got {forced!r}")
    on_lambda = bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    endpoint = any(environ.get(name) for name in ENDPOINT_VARIABLES)
    return not on_lambda and not endpoint


def create_table(resource: DynamoDBServiceResource, name: str) -> Table:
    """Create the items table, with the schema template.yaml and the CDK stack deploy."""
    table = resource.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    return table


@contextmanager
def items_table(environ: Mapping[str, str] | None = None) -> Iterator[Table]:
    """The items table, for the life of the app: see the module docstring for which one."""
    environ = os.environ if environ is None else environ
    name = environ.get(TABLE_NAME_VARIABLE) or DEFAULT_TABLE_NAME
    if not embedded_wanted(environ):
        # On Lambda the region and credentials come from the function's environment.
        yield boto3.resource("dynamodb").Table(name)
        return

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        # moto accepts any credentials; explicit ones keep the developer's own out of play.
        resource = boto3.resource(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=EMBEDDED_REGION,
            aws_access_key_id="embedded",
            aws_secret_access_key="embedded",
        )
        table = create_table(resource, name)
        logger.info("Local mode: embedded DynamoDB (moto) at %s with table %r", endpoint, name)
        yield table
    finally:
        # moto keeps its data per process, not per server: reset it (moto's documented
        # /moto-api/reset) so that the next start begins empty, like a new environment.
        with urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        ):
            pass
        server.stop()
