"""The CDK stack (examples/cdk/app.py): synthesised as `cdk synth` would, then checked.

The synthesis runs the app in a subprocess with CDK_OUTDIR, as the CDK CLI does, and builds the
function's package for real (local pip bundling, no Docker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .stack_checks import (
    HANDLER,
    check_function_url,
    check_items_stack,
    check_rest_stage,
    mentions,
    only,
    resources,
)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "cdk" / "app.py"
STACK = "MangumLikeItems"


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cdk.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(CDK_OUTDIR=str(out), JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION="1")
    result = subprocess.run(
        [sys.executable, str(APP)],
        cwd=APP.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def template(cloud_assembly: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (cloud_assembly / f"{STACK}.template.json").read_text(encoding="utf-8")
    )
    return loaded


def test_function_table_and_least_privilege_policy(template: dict[str, Any]) -> None:
    function, _ = check_items_stack(template)
    _, props = only(template, "AWS::Lambda::Function")
    assert (props["Handler"], props["Runtime"], props["Architectures"]) == (
        HANDLER,
        "python3.12",
        ["arm64"],
    )
    assert function.startswith("ItemsFunction")


def test_http_api_default_route(template: dict[str, Any]) -> None:
    function, _ = only(template, "AWS::Lambda::Function")
    _, api = only(template, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"
    _, route = only(template, "AWS::ApiGatewayV2::Route")
    assert route["RouteKey"] == "$default"
    integration_id, integration = only(template, "AWS::ApiGatewayV2::Integration")
    assert mentions(route["Target"], integration_id)
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == (
        "AWS_PROXY",
        "2.0",
    )
    assert mentions(integration["IntegrationUri"], function)
    _, stage = only(template, "AWS::ApiGatewayV2::Stage")
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)


def test_rest_api_stage_and_proxy_routes(template: dict[str, Any]) -> None:
    function, _ = only(template, "AWS::Lambda::Function")
    rest_api = check_rest_stage(template)
    _, proxy = only(template, "AWS::ApiGateway::Resource")
    assert proxy["PathPart"] == "{proxy+}"
    methods = [m["Properties"] for m in resources(template, "AWS::ApiGateway::Method").values()]
    assert len(methods) == 2  # ANY on / and ANY on /{proxy+}
    for method in methods:
        assert mentions(method["RestApiId"], rest_api)
        assert method["HttpMethod"] == "ANY"
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert mentions(method["Integration"]["Uri"], function)
    # No account-wide settings (CloudWatch role) come with the stack.
    assert not resources(template, "AWS::ApiGateway::Account")


def test_function_url(template: dict[str, Any]) -> None:
    function, _ = only(template, "AWS::Lambda::Function")
    check_function_url(template, function)


def test_outputs_the_three_urls(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    url, _ = only(template, "AWS::Lambda::Url")
    assert mentions(outputs["FunctionUrl"]["Value"], url)
    http_api, _ = only(template, "AWS::ApiGatewayV2::Api")
    assert mentions(outputs["HttpApiUrl"]["Value"], http_api)
    rest_api, _ = only(template, "AWS::ApiGateway::RestApi")
    stage, _ = only(template, "AWS::ApiGateway::Stage")
    assert mentions(outputs["RestApiUrl"]["Value"], rest_api)
    assert mentions(outputs["RestApiUrl"]["Value"], stage)


def test_asset_is_the_function_package(cloud_assembly: Path, template: dict[str, Any]) -> None:
    _, props = only(template, "AWS::Lambda::Function")
    manifest = json.loads((cloud_assembly / f"{STACK}.assets.json").read_text(encoding="utf-8"))
    key = props["Code"]["S3Key"]
    (asset,) = [entry for name, entry in manifest["files"].items() if key == f"{name}.zip"]
    package = cloud_assembly / asset["source"]["path"]
    assert asset["source"]["packaging"] == "zip"
    module, _, attribute = HANDLER.rpartition(".")
    handler_file = package.joinpath(*module.split(".")).with_suffix(".py")
    assert f"\n{attribute} = Mangum(app)\n" in handler_file.read_text(encoding="utf-8")
    for name in ("mangum_like", "fastapi", "pydantic", "boto3", "botocore", "anyio"):
        assert (package / name / "__init__.py").is_file(), name
    compiled = [p.name for p in (package / "pydantic_core").glob("*.so")]
    assert compiled
    assert all("aarch64" in name for name in compiled), compiled
    # Only the flagship's code from the repository: no tests, no other example.
    assert sorted(p.name for p in (package / "examples").iterdir()) == ["fastapi_dynamodb"]
    assert not (package / "tests").exists()
