"""template.yaml: valid for SAM and cfn-lint, deploys what the flagship and the streaming
function need, and builds; samconfig.toml answers `sam deploy`.

The tools come from .venv-tools, which ./scripts/test installs (scripts/_tools.sh): the SAM CLI
pins many dependencies of its own and stays out of the project's environment.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
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
    resolve,
    resources,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
TOOLS = ROOT / ".venv-tools" / "bin"
CODE = ROOT / "examples" / "fastapi_dynamodb"
STREAMING_CODE = ROOT / "examples" / "sse_streaming"
STREAMING_HANDLER = "examples.sse_streaming.app.handler"
EXEC_WRAPPER = "/opt/exec-wrapper"
SCRIPTS = ROOT / "mangum_like" / "scripts"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: ./scripts/test installs the deployment tools")
    return str(path)


def tools_env(**extra: str) -> dict[str, str]:
    """Offline and quiet: a region (SAM needs one to resolve ARNs), no telemetry, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0", **extra)
    return env


def run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=tools_env(**env), capture_output=True, text=True, timeout=300
    )


def broken_template(tmp_path: Path) -> Path:
    """template.yaml on a runtime Lambda no longer creates: both validators must reject it."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "Runtime: python3.12" in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace("Runtime: python3.12", "Runtime: python2.7"), encoding="utf-8")
    return path


def test_sam_validate_lint() -> None:
    result = run(tool("sam"), "validate", "--lint", "--template", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint() -> None:
    result = run(tool("cfn-lint"), str(TEMPLATE))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_validators_reject_a_broken_template(tmp_path: Path) -> None:
    path = broken_template(tmp_path)
    sam = run(tool("sam"), "validate", "--lint", "--template", str(path))
    assert sam.returncode != 0
    assert "E2533" in sam.stdout
    assert "Runtime 'python2.7' was deprecated" in sam.stdout
    lint = run(tool("cfn-lint"), str(path))
    assert lint.returncode != 0
    assert "E2533 Runtime 'python2.7' was deprecated" in lint.stdout


# SAM's own transform, as CloudFormation runs it at deploy time. The transform wants the
# packaged form of CodeUri (an S3 location); `sam package` would put one there.
TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = f"s3://bucket/{name}.zip"
    elif resource["Type"] == "AWS::Serverless::LayerVersion":
        resource["Properties"]["ContentUri"] = f"s3://bucket/{name}.zip"
print(json.dumps(transform(template, {}, None)))
"""


def transform(path: Path) -> dict[str, Any]:
    result = run(str(TOOLS / "python"), "-c", TRANSFORM, str(path))
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads(result.stdout)
    return template


def deployed(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """What CloudFormation creates from a transformed ``template`` given ``parameters`` (the
    others at their defaults): the resources and outputs whose condition holds."""
    declared = template.get("Parameters", {})
    values = {name: parameters.get(name, declared[name].get("Default")) for name in declared}

    def evaluate(node: Any) -> Any:
        if not isinstance(node, dict):
            return [evaluate(item) for item in node] if isinstance(node, list) else node
        ((function, argument),) = node.items()
        if function == "Ref":
            value = values[argument]
            if declared[argument]["Type"] == "CommaDelimitedList":
                return value.split(",")
            return value
        if function == "Fn::Join":
            separator, items = argument
            return separator.join(evaluate(items))
        if function == "Fn::Equals":
            left, right = argument
            return evaluate(left) == evaluate(right)
        if function == "Fn::Not":
            (condition,) = argument
            return not evaluate(condition)
        raise AssertionError(f"no evaluation of {function} here")

    holds = {name: evaluate(condition) for name, condition in template["Conditions"].items()}
    kept = {**template}
    for section in ("Resources", "Outputs"):
        kept[section] = {
            name: entry
            for name, entry in template[section].items()
            if holds.get(entry.get("Condition", ""), True)
        }
    return kept


@pytest.fixture(scope="module")
def all_resources() -> dict[str, Any]:
    """The transformed template, conditional resources included."""
    return transform(TEMPLATE)


@pytest.fixture(scope="module")
def transformed(all_resources: dict[str, Any]) -> dict[str, Any]:
    """The default deployment: no capacity provider parameters."""
    return deployed(all_resources)


def test_cfn_lint_of_what_cloudformation_receives(
    all_resources: dict[str, Any], tmp_path: Path
) -> None:
    """cfn-lint on SAM's transform of the template, conditional resources included: there it
    checks the properties of the capacity provider and of the function on it, which through the
    SAM template it lets pass (cfn-lint 1.58 accepts an unknown architecture or a concurrency
    over 1,600 there)."""
    transformed = tmp_path / "transformed.json"
    transformed.write_text(json.dumps(all_resources), encoding="utf-8")
    result = run(tool("cfn-lint"), str(transformed))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    text = TEMPLATE.read_text(encoding="utf-8")
    for old, new in [
        ("- arm64  # the function's, from Globals", "- arm65"),
        (
            "PerExecutionEnvironmentMaxConcurrency: 16",
            "PerExecutionEnvironmentMaxConcurrency: 2000",
        ),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    broken = tmp_path / "template.yaml"
    broken.write_text(text, encoding="utf-8")
    transformed.write_text(json.dumps(transform(broken)), encoding="utf-8")
    lint = run(tool("cfn-lint"), str(transformed))
    assert lint.returncode != 0
    assert "E3030 'arm65' is not one of ['x86_64', 'arm64']" in lint.stdout
    assert "E3034 2000 is greater than the maximum of 1600" in lint.stdout


def test_template_deploys_the_flagship_with_least_privilege(transformed: dict[str, Any]) -> None:
    function, _ = check_items_stack(transformed)
    assert function == "ItemsFunction"


def test_template_http_api_rest_stage_and_function_url(transformed: dict[str, Any]) -> None:
    # HTTP API: the $default route (every method and path) to the function, payload 2.0.
    _, http_api = only(transformed, "AWS::ApiGatewayV2::Api")
    default = http_api["Body"]["paths"]["$default"]["x-amazon-apigateway-any-method"]
    integration = default["x-amazon-apigateway-integration"]
    assert (integration["type"], integration["payloadFormatVersion"]) == ("aws_proxy", "2.0")
    assert "ItemsFunction.Arn" in integration["uri"]["Fn::Sub"]
    # REST API: stage v1, the root and every path below it proxied to the function.
    check_rest_stage(transformed)
    _, rest_api = only(transformed, "AWS::ApiGateway::RestApi")
    paths = rest_api["Body"]["paths"]
    assert set(paths) == {"/", "/{proxy+}"}
    for path in paths.values():
        proxy = path["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert proxy["type"] == "aws_proxy"
        assert "ItemsFunction.Arn" in proxy["uri"]["Fn::Sub"]
    check_function_url(transformed, "ItemsFunction")


def test_template_streaming_function(transformed: dict[str, Any]) -> None:
    """The SSE example behind a Function URL in RESPONSE_STREAM mode, run by our runtime loop
    (the exec wrapper) in response_stream mode, with no access to the table."""
    function, props = function_with_handler(transformed, STREAMING_HANDLER)
    assert (props["Runtime"], props["Architectures"]) == ("python3.12", ["arm64"])
    assert props["Timeout"] == 60
    assert props["Environment"]["Variables"] == {
        "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
        "MANGUM_LIKE_INVOKE_MODE": "response_stream",
    }
    url = check_function_url(transformed, function)
    assert url["InvokeMode"] == "RESPONSE_STREAM"
    # The wrapper comes in a layer of its own (at /opt), for python3.12 on arm64.
    (layer_ref,) = props["Layers"]
    layer = transformed["Resources"][layer_ref["Ref"]]
    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # Least privilege: logs only (the basic execution role), no inline policy, no table.
    role = props["Role"]["Fn::GetAtt"][0]
    role_props = transformed["Resources"][role]["Properties"]
    assert "Policies" not in role_props
    assert role_props["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ]
    assert not any(
        mentions(policy["Properties"]["Roles"], role)
        for policy in transformed["Resources"].values()
        if policy["Type"] == "AWS::IAM::Policy"
    )
    # The flagship's URL stays buffered.
    items, _ = function_with_handler(transformed, HANDLER)
    assert "InvokeMode" not in check_function_url(transformed, items)
    outputs = transformed["Outputs"]
    assert mentions(outputs["StreamingFunctionUrl"]["Value"], "StreamingFunctionUrl")


def test_template_rest_api_has_the_stage_v1_only(
    transformed: dict[str, Any], tmp_path: Path
) -> None:
    """One REST API stage, v1: OpenAPI 3 keeps SAM from deploying a stage named "Stage" too."""
    stages = resources(transformed, "AWS::ApiGateway::Stage").values()
    assert [resolve(transformed, s["Properties"]["StageName"]) for s in stages] == ["v1"]
    (deployment,) = resources(transformed, "AWS::ApiGateway::Deployment").values()
    assert "StageName" not in deployment["Properties"]
    check_rest_stage(transformed)
    _, rest_api = only(transformed, "AWS::ApiGateway::RestApi")
    assert rest_api["Body"]["openapi"] == "3.0.1"
    # Without the Api globals (OpenApiVersion), SAM's deployment names the stage "Stage": the
    # check sees it.
    text, count = re.subn(
        r'^  Api:\n(    .*\n)*?    OpenApiVersion: "3.0.1"\n',
        "",
        TEMPLATE.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    assert count == 1
    without = tmp_path / "template.yaml"
    without.write_text(text, encoding="utf-8")
    swagger = transform(without)
    (deployment,) = resources(swagger, "AWS::ApiGateway::Deployment").values()
    assert deployment["Properties"]["StageName"] == "Stage"
    with pytest.raises(AssertionError, match="create a stage of their own"):
        check_rest_stage(swagger)


def test_template_outputs_the_three_urls(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]
    assert mentions(outputs["FunctionUrl"]["Value"], "ItemsFunctionUrl")
    assert "${ServerlessHttpApi}.execute-api" in outputs["HttpApiUrl"]["Value"]["Fn::Sub"]
    rest = outputs["RestApiUrl"]["Value"]["Fn::Sub"]
    assert rest.endswith("/${RestApiStageName}/")
    assert "${RestApi}.execute-api" in rest


# The README's parameters for Lambda Managed Instances.
MANAGED_INSTANCES = {
    "CapacityProviderSubnetIds": "subnet-0a,subnet-0b,subnet-0c",
    "CapacityProviderSecurityGroupIds": "sg-0a",
}
MANAGED_INSTANCES_OVERRIDES = " ".join(f"{key}={value}" for key, value in MANAGED_INSTANCES.items())


def test_template_flagship_on_managed_instances(
    all_resources: dict[str, Any], transformed: dict[str, Any]
) -> None:
    """With subnets for a capacity provider, the flagship runs on Lambda Managed Instances too,
    by mangum_like's runtime loop (the exec wrapper); without them, nothing of it is deployed."""
    managed = deployed(all_resources, **MANAGED_INSTANCES)
    added = {
        name: entry["Type"]
        for name, entry in managed["Resources"].items()
        if name not in transformed["Resources"]
    }
    assert added == {
        "ItemsCapacityProvider": "AWS::Lambda::CapacityProvider",
        "ItemsCapacityProviderOperatorRole": "AWS::IAM::Role",
        "ManagedItemsFunction": "AWS::Lambda::Function",
        "ManagedItemsFunctionRole": "AWS::IAM::Role",
    }
    # The default deployment's resources are the same either way.
    assert {name: managed["Resources"][name] for name in transformed["Resources"]} == (
        transformed["Resources"]
    )
    assert set(managed["Outputs"]) - set(transformed["Outputs"]) == {"ManagedItemsFunctionName"}

    provider = managed["Resources"]["ItemsCapacityProvider"]["Properties"]
    assert provider["VpcConfig"] == {
        "SubnetIds": {"Ref": "CapacityProviderSubnetIds"},
        "SecurityGroupIds": {"Ref": "CapacityProviderSecurityGroupIds"},
    }
    assert provider["InstanceRequirements"] == {"Architectures": ["arm64"]}
    # The role Lambda takes on to run the instances, with AWS's managed policy for it.
    operator = provider["PermissionsConfig"]["CapacityProviderOperatorRoleArn"]
    assert operator == {"Fn::GetAtt": ["ItemsCapacityProviderOperatorRole", "Arn"]}
    operator_role = managed["Resources"]["ItemsCapacityProviderOperatorRole"]["Properties"]
    assert operator_role["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
    ]

    props = managed["Resources"]["ManagedItemsFunction"]["Properties"]
    assert (props["Handler"], props["Runtime"], props["Architectures"]) == (
        HANDLER,
        "python3.13",
        ["arm64"],
    )
    assert props["CapacityProviderConfig"] == {
        "LambdaManagedInstancesCapacityProviderConfig": {
            "CapacityProviderArn": {
                "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}"
                ":capacity-provider:${ItemsCapacityProvider}"
            },
            "PerExecutionEnvironmentMaxConcurrency": 16,
        }
    }
    assert "VpcConfig" not in props  # the capacity provider's subnets are the function's
    assert props["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "ItemsTable"},
        "AWS_LAMBDA_EXEC_WRAPPER": EXEC_WRAPPER,
    }
    streaming = function_with_handler(transformed, STREAMING_HANDLER)[1]
    assert props["Layers"] == streaming["Layers"]
    # The flagship's table permissions, and no others.
    _, items_props = function_with_handler(transformed, HANDLER)
    role = managed["Resources"]["ManagedItemsFunctionRole"]["Properties"]
    items_role = transformed["Resources"][items_props["Role"]["Fn::GetAtt"][0]]["Properties"]
    assert [policy["PolicyDocument"] for policy in role["Policies"]] == [
        policy["PolicyDocument"] for policy in items_role["Policies"]
    ]
    assert role["ManagedPolicyArns"] == items_role["ManagedPolicyArns"]
    assert mentions(managed["Outputs"]["ManagedItemsFunctionName"]["Value"], "ManagedItemsFunction")


# -- sam deploy --------------------------------------------------------------------------------

# `sam deploy` as the SAM CLI parses it, arguments and samconfig.toml alike, up to the point
# where it would start deploying: what it would deploy with is printed instead. Run from the
# repository root, where the README runs it.
DEPLOY_ARGUMENTS = """
import inspect, json, sys
from unittest import mock
from click.testing import CliRunner
import samcli.commands.deploy.command as deploy
import samcli.lib.utils.version_checker as version_checker
from samcli.cli.main import cli

names = list(inspect.signature(deploy.do_cli).parameters)
seen = {}
record = lambda *args: seen.update(zip(names, args))
with mock.patch.object(version_checker, "_inform_newer_version", lambda: None):
    with mock.patch.object(deploy, "do_cli", record):
        result = CliRunner().invoke(cli, ["deploy", *sys.argv[1:]], catch_exceptions=False)
assert result.exit_code == 0, result.output
print(json.dumps(seen))
"""


def deploy_arguments(*args: str) -> dict[str, Any]:
    result = run(str(TOOLS / "python"), "-c", DEPLOY_ARGUMENTS, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    arguments: dict[str, Any] = json.loads(result.stdout)
    return arguments


def test_samconfig_answers_sam_deploy() -> None:
    """`sam deploy` from the repository root reads samconfig.toml: no --guided needed."""
    assert SAMCONFIG.is_file()
    arguments = deploy_arguments()
    assert arguments["config_file"] == "samconfig.toml"
    assert arguments["guided"] is False
    assert arguments["stack_name"] == "mangum-like-examples"
    # A bucket SAM manages, the roles the stack creates, a change set to confirm.
    assert (arguments["resolve_s3"], arguments["s3_bucket"]) == (True, None)
    assert arguments["s3_prefix"] == "mangum-like-examples"
    assert arguments["capabilities"] == ["CAPABILITY_IAM"]
    assert arguments["confirm_changeset"] is True
    # `sam deploy --guided` starts from the same answers.
    guided = deploy_arguments("--guided")
    assert guided["guided"] is True
    assert {key: guided[key] for key in ("stack_name", "confirm_changeset", "capabilities")} == {
        key: arguments[key] for key in ("stack_name", "confirm_changeset", "capabilities")
    }


def test_sam_deploy_takes_the_capacity_provider_parameters() -> None:
    """The README's `sam deploy --parameter-overrides ...` for Lambda Managed Instances."""
    section = readme_section("Deploying with SAM")
    assert f"sam deploy --parameter-overrides {MANAGED_INSTANCES_OVERRIDES}" in section
    arguments = deploy_arguments("--parameter-overrides", *MANAGED_INSTANCES_OVERRIDES.split())
    assert arguments["parameter_overrides"] == MANAGED_INSTANCES


# The authentication questions of `sam deploy --guided`, as the SAM CLI asks them for the
# template, answered with stdin.
GUIDED_AUTHENTICATION = """
import json, sys
import click
from click.testing import CliRunner
from samcli.commands.deploy.guided_context import GuidedContext
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

template, answers = sys.argv[1], sys.argv[2]
stacks, _ = SamLocalStackProvider.get_stacks(
    template, global_parameter_overrides={"AWS::Region": "us-east-1"}
)
guided = GuidedContext(template, None, None, None, None, None)
ask = click.command()(lambda: guided.prompt_authorization(stacks))
result = CliRunner().invoke(ask, input=answers, standalone_mode=False)
print(json.dumps({"output": result.output, "error": str(result.exception or "")}))
"""


def guided_authentication(answers: str) -> tuple[list[str], str]:
    """The questions asked (without their formatting) and the error that ended them, if any."""
    result = run(str(TOOLS / "python"), "-c", GUIDED_AUTHENTICATION, str(TEMPLATE), answers)
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)
    output = re.sub(r"\x1b\[[0-9;]*m", "", answered["output"])
    questions = re.findall(
        r"^\s*(.+ has no authentication\. Is this okay\? \[y/N\]):", output, re.M
    )
    return questions, answered["error"]


def test_guided_deploy_asks_five_authentication_questions() -> None:
    """Every endpoint is public: `sam deploy --guided` asks once per endpoint, and Enter (N)
    ends the deployment. The README lists the questions and the answer (y)."""
    asked, error = guided_authentication("y\n" * 5)
    assert error == ""
    assert asked == [
        "ItemsFunction has no authentication. Is this okay? [y/N]",  # the HTTP API
        "ItemsFunction has no authentication. Is this okay? [y/N]",  # REST API, /
        "ItemsFunction has no authentication. Is this okay? [y/N]",  # REST API, /{proxy+}
        "ItemsFunction Function Url has no authentication. Is this okay? [y/N]",
        "StreamingFunction Function Url has no authentication. Is this okay? [y/N]",
    ]
    asked_first, error = guided_authentication("\n")
    assert asked_first == asked[:1]
    assert error == "Security Constraints Not Satisfied!"
    section = readme_section("Deploying with SAM")
    for question in set(asked):
        assert section.count(f"{question}: y") == asked.count(question), question
    assert "Answer `y` five times" in section


def test_readme_sam_section(transformed: dict[str, Any]) -> None:
    section = readme_section("Deploying with SAM")
    check_urls_joined_without_double_slash(transformed, section)
    assert "samconfig.toml" in section
    # sam build builds with the functions' runtimes, or in Docker.
    assert "python3.12" in section
    assert "python3.13" in section
    assert "--use-container" in section


# -- sam build ---------------------------------------------------------------------------------


def _python(version: str) -> str:
    """The folder of a Python ``version`` for `sam build` (it builds each function with its
    runtime's own version, no Docker)."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return str(Path(found).parent)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(root.glob(f"versions/{version}*/bin/python{version}")):
        return str(candidate.parent)
    pytest.fail(
        f"sam build needs python{version} on PATH (a function's runtime is python{version})"
    )


def _imports(path: Path) -> set[str]:
    """The top-level modules a module imports when it is loaded (not under TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_sam_build_packages_each_handler_and_what_it_imports(tmp_path: Path) -> None:
    """One `sam build` of the functions (in parallel): each finds its code and requirements.txt,
    and each package holds every module its handler imports, built for its runtime (the
    flagship on Lambda Managed Instances for python3.13). What `sam deploy` then uploads is
    zipped as it zips it: the layer holds the exec wrapper that the streaming function's
    environment names, executable."""
    assert (CODE / "requirements.txt").is_file()
    assert (STREAMING_CODE / "requirements.txt").is_file()
    build = tmp_path / "build"
    path = os.pathsep.join([_python("3.12"), _python("3.13"), os.environ["PATH"]])
    result = run(
        tool("sam"),
        "build",
        "--parallel",
        "--template",
        str(TEMPLATE),
        "--build-dir",
        str(build),
        PATH=path,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    items = build / "ItemsFunction"
    handler_file = _check_package(items, HANDLER, ["dynamodb.py"])
    imported = set().union(*map(_imports, [handler_file, handler_file.with_name("dynamodb.py")]))
    # moto, for local mode only, is imported inside a function.
    assert {"fastapi", "boto3", "mangum_like", "examples"} <= imported
    managed = build / "ManagedItemsFunction"
    _check_package(managed, HANDLER, ["dynamodb.py"])
    compiled = [p.name for p in (managed / "pydantic_core").glob("*.so")]
    assert compiled
    assert all("cpython-313" in name for name in compiled), compiled

    streaming = build / "StreamingFunction"
    handler_file = _check_package(streaming, STREAMING_HANDLER, [])
    assert {"fastapi", "mangum_like"} <= _imports(handler_file)
    # What the wrapper starts: python -m mangum_like.runtime, from the function's package.
    assert (streaming / "mangum_like" / "runtime.py").is_file()
    assert not (streaming / "boto3").exists()  # only what its requirements.txt names

    uploaded = _uploaded(build, tmp_path / "zips")
    # Lambda extracts a layer into /opt: the wrapper must be at its root, executable, as shipped.
    wrapper = uploaded["ExecWrapperLayer"][EXEC_WRAPPER.removeprefix("/opt/")]
    assert wrapper["data"] == (SCRIPTS / "exec-wrapper").read_text(encoding="utf-8")
    assert wrapper["mode"] & 0o111 == 0o111, oct(wrapper["mode"])
    assert uploaded["StreamingFunction"]["examples/sse_streaming/app.py"]["mode"] & 0o444

    # The built template points at the packages.
    built = (build / "template.yaml").read_text(encoding="utf-8")
    assert "CodeUri: ItemsFunction" in built
    assert "CodeUri: StreamingFunction" in built
    assert "CodeUri: ManagedItemsFunction" in built


# What `sam deploy` uploads for each function and layer of the built template: its folder zipped
# by SAM's own zip function for Lambda resources (file modes kept, read access added).
UPLOAD = """
import json, os, sys, zipfile
from samcli.lib.package.utils import make_zip_with_lambda_permissions
from samtranslator.yaml_helper import yaml_parse

build, out, wanted = sys.argv[1], sys.argv[2], set(sys.argv[3:])
template = yaml_parse(open(os.path.join(build, "template.yaml"), encoding="utf-8").read())
uploaded = {}
for name, resource in template["Resources"].items():
    uri = resource["Properties"].get("CodeUri") or resource["Properties"].get("ContentUri")
    if uri is None:
        continue
    archive = make_zip_with_lambda_permissions(
        os.path.join(out, name), os.path.normpath(os.path.join(build, uri))
    )
    with zipfile.ZipFile(archive) as zf:
        uploaded[name] = {
            info.filename: {"mode": info.external_attr >> 16, "data": zf.read(info).decode()}
            for info in zf.infolist()
            if info.filename in wanted
        }
print(json.dumps(uploaded))
"""


def _uploaded(build: Path, out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    out.mkdir()
    wanted = [EXEC_WRAPPER.removeprefix("/opt/"), "examples/sse_streaming/app.py"]
    result = run(str(TOOLS / "python"), "-c", UPLOAD, str(build), str(out), *wanted)
    assert result.returncode == 0, result.stderr
    uploaded: dict[str, dict[str, dict[str, Any]]] = json.loads(result.stdout)
    return uploaded


def _check_package(package: Path, handler: str, siblings: list[str]) -> Path:
    """The handler's module in a built package, with every module-level import it (and the
    ``siblings`` next to it) makes at the package root, Lambda's module search path."""
    module, _, attribute = handler.rpartition(".")
    handler_file = package.joinpath(*module.split(".")).with_suffix(".py")
    assert handler_file.is_file()
    assert f"\n{attribute} = Mangum(app)\n" in handler_file.read_text(encoding="utf-8")
    code_files = [handler_file, *(handler_file.with_name(name) for name in siblings)]
    for name in set().union(*map(_imports, code_files)):
        assert (package / name).is_dir() or (package / f"{name}.py").is_file(), name
    assert (package / "mangum_like" / "py.typed").is_file()
    # Wheels for the function's architecture (arm64), not the build machine's.
    compiled = [p.name for p in (package / "pydantic_core").glob("*.so")]
    assert compiled
    assert all("aarch64" in name for name in compiled), compiled
    return handler_file
