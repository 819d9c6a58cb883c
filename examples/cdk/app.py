"""The examples' stack in the AWS CDK (Python): what template.yaml deploys, in code.

A DynamoDB table; the items function (``examples.fastapi_dynamodb.app.handler``, python3.12,
arm64) with read-write access to that table only and the table name in ``TABLE_NAME``; an HTTP
API (its ``$default`` route), a REST API with the stage ``v1`` (``/`` and ``/{proxy+}``) and a
public Function URL in front of it. Beside it the streaming function
(``examples.sse_streaming.app.handler``): the SSE example behind a public Function URL in
``RESPONSE_STREAM`` mode, run by mangum_like's own runtime loop in ``response_stream`` mode
through the exec wrapper, which a layer made from ``mangum_like/scripts/`` puts at
``/opt/exec-wrapper``.

    cd examples/cdk && cdk deploy        # or: python examples/cdk/app.py to synthesise only

Each function's package is built without Docker when a local pip can do it
(``LocalPipBundling``: wheels for Lambda's Linux on arm64, the example's code, mangum-like built
from this repository), and in the SAM Python build image otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigatewayv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent.parent
CODE = Path("examples") / "fastapi_dynamodb"
HANDLER = "examples.fastapi_dynamodb.app.handler"
STREAMING_CODE = Path("examples") / "sse_streaming"
STREAMING_HANDLER = "examples.sse_streaming.app.handler"
# mangum_like's exec wrapper as shipped in the package; a layer of this directory puts it at
# /opt/exec-wrapper, with the executable bit it has in the repository.
SCRIPTS = Path("mangum_like") / "scripts"
EXEC_WRAPPER = "/opt/exec-wrapper"
RUNTIME = lambda_.Runtime.PYTHON_3_12
STAGE = "v1"
# What the function's package is NOT built from: keeps the asset's fingerprint (computed over
# the source folder) fast and stable. Patterns match at any depth.
EXCLUDE = [".*", "__pycache__", "*.pyc", "cdk.out", "node_modules", "tests", "benchmarks"]


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    """Build a function's package with this machine's pip, for Lambda's platform: what the
    ``requirements.txt`` of ``code`` (an example's folder) installs, and that folder under its
    own module path.

    pip downloads manylinux wheels for arm64 and CPython 3.12 whatever machine runs it, so no
    Docker is needed. Returns False (CDK then bundles in Docker) when pip cannot run here.
    """

    def __init__(self, code: Path) -> None:
        self.code = code

    def try_bundle(self, output_dir: str, *options: Any, **keywords: Any) -> bool:
        # jsii passes the bundling options positionally; this bundler needs none of them.
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        if subprocess.run([*pip, "--version"], capture_output=True).returncode != 0:
            return False
        output = Path(output_dir)
        with tempfile.TemporaryDirectory() as scratch:
            wheels = Path(scratch)
            # mangum-like from this repository, as a wheel: the platform-restricted install
            # below accepts wheels only.
            subprocess.run(
                [*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)],
                check=True,
            )
            (wheel,) = wheels.glob("mangum_like-*.whl")
            requirements = wheels / "requirements.txt"
            lines = (ROOT / self.code / "requirements.txt").read_text(encoding="utf-8").splitlines()
            requirements.write_text(
                "\n".join(str(wheel) if line.strip() == "." else line for line in lines),
                encoding="utf-8",
            )
            subprocess.run(
                [
                    *pip,
                    "install",
                    "--quiet",
                    "--target",
                    str(output),
                    "--platform",
                    "manylinux2014_aarch64",
                    "--implementation",
                    "cp",
                    "--python-version",
                    RUNTIME.name.removeprefix("python"),
                    "--only-binary=:all:",
                    "--requirement",
                    str(requirements),
                ],
                check=True,
            )
        shutil.copytree(
            ROOT / self.code,
            output / self.code,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def function_code(code: Path) -> lambda_.Code:
    """The package of the example in ``code``: its requirements and its code, nothing else."""
    return lambda_.Code.from_asset(
        str(ROOT),
        exclude=EXCLUDE,
        bundling=cdk.BundlingOptions(
            image=RUNTIME.bundling_image,
            # The same package, built in Docker: /asset-input is the repository root.
            command=[
                "bash",
                "-c",
                f"pip install --requirement {code}/requirements.txt --target /asset-output"
                f" && mkdir -p /asset-output/examples && cp -r {code} /asset-output/examples/",
            ],
            environment={"HOME": "/tmp"},
            local=LocalPipBundling(code),
        ),
    )


class ItemsStack(cdk.Stack):
    """The items service (table, function, HTTP API, REST API with the stage v1, Function URL)
    and the streaming function (its layer and its Function URL in RESPONSE_STREAM mode)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        table = dynamodb.Table(
            self,
            "ItemsTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        )
        function = lambda_.Function(
            self,
            "ItemsFunction",
            description="Items service (FastAPI on mangum_like)",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=function_code(CODE),
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
            environment={"TABLE_NAME": table.table_name},
        )
        # Least privilege: item reads and writes on this table only.
        table.grant_read_write_data(function)

        http_api = apigatewayv2.HttpApi(
            self,
            "HttpApi",
            default_integration=integrations.HttpLambdaIntegration("Items", function),
        )
        rest_api = apigateway.LambdaRestApi(
            self,
            "RestApi",
            handler=function,
            deploy_options=apigateway.StageOptions(stage_name=STAGE),
            # No account-wide CloudWatch logging role: the stack touches its own resources only.
            cloud_watch_role=False,
        )
        function_url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)

        exec_wrapper_layer = lambda_.LayerVersion(
            self,
            "ExecWrapperLayer",
            description="mangum_like exec wrapper (/opt/exec-wrapper) for AWS_LAMBDA_EXEC_WRAPPER",
            code=lambda_.Code.from_asset(str(ROOT / SCRIPTS), exclude=EXCLUDE),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
        )
        streaming = lambda_.Function(
            self,
            "StreamingFunction",
            description="Server-Sent Events streamed by mangum_like's runtime loop",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=STREAMING_HANDLER,
            code=function_code(STREAMING_CODE),
            memory_size=512,
            # A stream may run up to the function's timeout; the deadline guard ends it cleanly
            # timeout_margin (0.5 s) before.
            timeout=cdk.Duration.seconds(60),
            environment={
                # Lambda starts the wrapper with the managed runtime's command as its arguments;
                # it runs `python -m mangum_like.runtime` in place of the official runtime
                # client, which streams in response_stream mode.
                "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
                "MANGUM_LIKE_INVOKE_MODE": "response_stream",
            },
            layers=[exec_wrapper_layer],
        )
        streaming_url = streaming.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE,
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
        )

        # Every URL ends in "/": append paths without a leading one (<url>items).
        cdk.CfnOutput(self, "HttpApiUrl", value=http_api.api_endpoint + "/")
        cdk.CfnOutput(self, "RestApiUrl", value=rest_api.url)
        cdk.CfnOutput(self, "FunctionUrl", value=function_url.url)
        cdk.CfnOutput(self, "ItemsTableName", value=table.table_name)
        cdk.CfnOutput(
            self,
            "StreamingFunctionUrl",
            value=streaming_url.url,
            description="SSE over a streaming Function URL: curl -N <url>tokens?prompt=hello",
        )


def main() -> None:
    app = cdk.App()
    ItemsStack(app, "MangumLikeItems")
    app.synth()


if __name__ == "__main__":
    main()
