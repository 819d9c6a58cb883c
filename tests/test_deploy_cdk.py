"""The CDK stack (examples/cdk/app.py): synthesised as `cdk synth` would, then checked.

The synthesis runs the app in a subprocess with CDK_OUTDIR, as the CDK CLI does, and builds the
functions' packages for real (local pip bundling, no Docker).
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
    check_urls_joined_without_double_slash,
    function_with_handler,
    mentions,
    only,
    readme_section,
    resources,
)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "cdk" / "app.py"
STACK = "MangumLikeItems"
STREAMING_HANDLER = "examples.sse_streaming.app.handler"
EXEC_WRAPPER = "/opt/exec-wrapper"
SCRIPTS = ROOT / "mangum_like" / "scripts"


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
    _, props = function_with_handler(template, HANDLER)
    assert (props["Handler"], props["Runtime"], props["Architectures"]) == (
        HANDLER,
        "python3.12",
        ["arm64"],
    )
    assert function.startswith("ItemsFunction")


def test_http_api_default_route(template: dict[str, Any]) -> None:
    function, _ = function_with_handler(template, HANDLER)
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
    function, _ = function_with_handler(template, HANDLER)
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
    function, _ = function_with_handler(template, HANDLER)
    check_function_url(template, function)


def test_outputs_the_four_urls(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert mentions(outputs["FunctionUrl"]["Value"], _url_of(template, HANDLER))
    assert mentions(outputs["StreamingFunctionUrl"]["Value"], _url_of(template, STREAMING_HANDLER))
    http_api, _ = only(template, "AWS::ApiGatewayV2::Api")
    assert mentions(outputs["HttpApiUrl"]["Value"], http_api)
    rest_api, _ = only(template, "AWS::ApiGateway::RestApi")
    stage, _ = only(template, "AWS::ApiGateway::Stage")
    assert mentions(outputs["RestApiUrl"]["Value"], rest_api)
    assert mentions(outputs["RestApiUrl"]["Value"], stage)


def test_asset_is_the_function_package(cloud_assembly: Path, template: dict[str, Any]) -> None:
    _, props = function_with_handler(template, HANDLER)
    package = _check_package(cloud_assembly, props["Code"]["S3Key"], HANDLER)
    for name in ("mangum_like", "fastapi", "pydantic", "boto3", "botocore", "anyio"):
        assert (package / name / "__init__.py").is_file(), name
    # Only the flagship's code from the repository: no tests, no other example.
    assert sorted(p.name for p in (package / "examples").iterdir()) == ["fastapi_dynamodb"]
    assert not (package / "tests").exists()


def test_streaming_function(template: dict[str, Any]) -> None:
    """As template.yaml's StreamingFunction: the SSE example behind a Function URL in
    RESPONSE_STREAM mode, run by our runtime loop (the exec wrapper, from a layer) in
    response_stream mode, with no access to the table."""
    function, props = function_with_handler(template, STREAMING_HANDLER)
    assert (props["Runtime"], props["Architectures"]) == ("python3.12", ["arm64"])
    assert (props["Timeout"], props["MemorySize"]) == (60, 512)
    assert props["Environment"]["Variables"] == {
        "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
        "MANGUM_LIKE_INVOKE_MODE": "response_stream",
    }
    url = check_function_url(template, function)
    assert url["InvokeMode"] == "RESPONSE_STREAM"
    # The wrapper comes in a layer of its own (at /opt), for python3.12 on arm64.
    (layer_ref,) = props["Layers"]
    layer = template["Resources"][layer_ref["Ref"]]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # Least privilege: logs only (the basic execution role), no policy, no table.
    role = props["Role"]["Fn::GetAtt"][0]
    role_props = template["Resources"][role]["Properties"]
    assert "Policies" not in role_props
    (managed,) = role_props["ManagedPolicyArns"]
    separator, parts = managed["Fn::Join"]
    arn = separator.join(part if isinstance(part, str) else "{partition}" for part in parts)
    assert arn == "arn:{partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    assert not any(
        mentions(policy["Properties"]["Roles"], role)
        for policy in resources(template, "AWS::IAM::Policy").values()
    )
    # The flagship's URL stays buffered.
    items, _ = function_with_handler(template, HANDLER)
    assert "InvokeMode" not in check_function_url(template, items)


def test_streaming_asset_and_layer(cloud_assembly: Path, template: dict[str, Any]) -> None:
    """The streaming function's package holds the SSE example and what it imports; the layer
    holds the exec wrapper at its root (/opt/exec-wrapper), as shipped, executable."""
    _, props = function_with_handler(template, STREAMING_HANDLER)
    package = _check_package(cloud_assembly, props["Code"]["S3Key"], STREAMING_HANDLER)
    for name in ("mangum_like", "fastapi", "starlette", "pydantic", "anyio"):
        assert (package / name / "__init__.py").is_file(), name
    # What the wrapper starts: python -m mangum_like.runtime, from the function's package.
    assert (package / "mangum_like" / "runtime.py").is_file()
    assert not (package / "boto3").exists()  # only what its requirements.txt names
    assert sorted(p.name for p in (package / "examples").iterdir()) == ["sse_streaming"]
    assert not (package / "tests").exists()

    (layer_ref,) = props["Layers"]
    layer = template["Resources"][layer_ref["Ref"]]["Properties"]
    content = _asset(cloud_assembly, layer["Content"]["S3Key"])
    wrapper = content / EXEC_WRAPPER.removeprefix("/opt/")
    assert wrapper.read_bytes() == (SCRIPTS / "exec-wrapper").read_bytes()
    assert wrapper.stat().st_mode & 0o111 == 0o111, oct(wrapper.stat().st_mode)
    assert sorted(p.name for p in content.iterdir()) == ["bootstrap", "exec-wrapper"]


def test_readme_cdk_section(template: dict[str, Any]) -> None:
    section = readme_section("Deploying with CDK")
    check_urls_joined_without_double_slash(template, section)
    outputs = [name for name in template["Outputs"] if name.endswith("Url")]
    assert sorted(outputs) == sorted(
        ["HttpApiUrl", "RestApiUrl", "FunctionUrl", "StreamingFunctionUrl"]
    )
    assert "prints HttpApiUrl, RestApiUrl, FunctionUrl and StreamingFunctionUrl" in section


def _url_of(template: dict[str, Any], handler: str) -> str:
    """The logical id of the Function URL of the function whose handler is ``handler``."""
    function, _ = function_with_handler(template, handler)
    (url,) = [
        name
        for name, resource in resources(template, "AWS::Lambda::Url").items()
        if mentions(resource["Properties"]["TargetFunctionArn"], function)
    ]
    return url


def _asset(cloud_assembly: Path, key: str) -> Path:
    """The staged directory of the zip asset uploaded under the S3 key ``key``."""
    manifest = json.loads((cloud_assembly / f"{STACK}.assets.json").read_text(encoding="utf-8"))
    (asset,) = [entry for name, entry in manifest["files"].items() if key == f"{name}.zip"]
    assert asset["source"]["packaging"] == "zip"
    path: Path = cloud_assembly / asset["source"]["path"]
    return path


def _check_package(cloud_assembly: Path, key: str, handler: str) -> Path:
    """A function's package: the handler's module, and wheels for arm64 (not this machine)."""
    package = _asset(cloud_assembly, key)
    module, _, attribute = handler.rpartition(".")
    handler_file = package.joinpath(*module.split(".")).with_suffix(".py")
    assert f"\n{attribute} = Mangum(app)\n" in handler_file.read_text(encoding="utf-8")
    compiled = [p.name for p in (package / "pydantic_core").glob("*.so")]
    assert compiled
    assert all("aarch64" in name for name in compiled), compiled
    return package
