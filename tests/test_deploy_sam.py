"""template.yaml: valid for SAM and cfn-lint, deploys what the flagship needs, and builds.

The tools come from .venv-tools, which ./scripts/test installs (scripts/_tools.sh): the SAM CLI
pins many dependencies of its own and stays out of the project's environment.
"""

from __future__ import annotations

import ast
import json
import os
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
    mentions,
    only,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
TOOLS = ROOT / ".venv-tools" / "bin"
CODE = ROOT / "examples" / "fastapi_dynamodb"


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
template["Resources"]["ItemsFunction"]["Properties"]["CodeUri"] = "s3://bucket/items.zip"
print(json.dumps(transform(template, {}, None)))
"""


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    result = run(str(TOOLS / "python"), "-c", TRANSFORM, str(TEMPLATE))
    assert result.returncode == 0, result.stderr
    template: dict[str, Any] = json.loads(result.stdout)
    return template


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


def test_template_outputs_the_three_urls(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]
    assert mentions(outputs["FunctionUrl"]["Value"], "ItemsFunctionUrl")
    assert "${ServerlessHttpApi}.execute-api" in outputs["HttpApiUrl"]["Value"]["Fn::Sub"]
    rest = outputs["RestApiUrl"]["Value"]["Fn::Sub"]
    assert rest.endswith("/${RestApiStageName}/")
    assert "${RestApi}.execute-api" in rest


# -- sam build ---------------------------------------------------------------------------------


def _python312() -> str:
    """A Python 3.12 for `sam build` (it builds with the runtime's own version, no Docker)."""
    found = shutil.which("python3.12")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return str(Path(found).parent)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(root.glob("versions/3.12*/bin/python3.12")):
        return str(candidate.parent)
    pytest.fail("sam build needs python3.12 on PATH (the function's runtime is python3.12)")


def _imports(path: Path) -> set[str]:
    """The top-level modules a module imports when it is loaded (not under TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_sam_build_packages_the_handler_and_what_it_imports(tmp_path: Path) -> None:
    """`sam build` finds the code and requirements.txt, and the package holds every import."""
    assert (CODE / "requirements.txt").is_file()
    build = tmp_path / "build"
    path = f"{_python312()}{os.pathsep}{os.environ['PATH']}"
    result = run(
        tool("sam"), "build", "--template", str(TEMPLATE), "--build-dir", str(build), PATH=path
    )
    assert result.returncode == 0, result.stdout + result.stderr

    package = build / "ItemsFunction"
    module, _, attribute = HANDLER.rpartition(".")
    handler_file = package.joinpath(*module.split(".")).with_suffix(".py")
    assert handler_file.is_file()
    assert f"\n{attribute} = Mangum(app)\n" in handler_file.read_text(encoding="utf-8")
    # Lambda's module search path is the package root: each module-level import of the
    # function's modules is there (moto, for local mode only, is imported inside a function).
    code_files = [handler_file, handler_file.with_name("dynamodb.py")]
    imported = set().union(*map(_imports, code_files))
    assert {"fastapi", "boto3", "mangum_like", "examples"} <= imported
    for name in imported:
        assert (package / name).is_dir() or (package / f"{name}.py").is_file(), name
    assert (package / "mangum_like" / "py.typed").is_file()
    # Wheels for the function's architecture (arm64), not the build machine's.
    compiled = [p.name for p in (package / "pydantic_core").glob("*.so")]
    assert compiled
    assert all("aarch64" in name for name in compiled), compiled
    # The built template points at the package.
    built = (build / "template.yaml").read_text(encoding="utf-8")
    assert "CodeUri: ItemsFunction" in built
