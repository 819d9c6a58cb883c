"""What template.yaml and the CDK stack must both deploy, checked on CloudFormation resources.

The SAM template is checked after SAM's own transform, the CDK stack after synthesis: either
way the assertions read the resources CloudFormation would create.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
HANDLER = "examples.fastapi_dynamodb.app.handler"
STAGE = "v1"

Template = dict[str, Any]


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """The resources of one CloudFormation type, by logical id."""
    found: dict[str, dict[str, Any]] = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }
    return found


def only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    ((name, resource),) = found.items()
    return name, resource["Properties"]


def function_with_handler(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    """The one Lambda function whose handler is ``handler`` (a stack may hold others)."""
    found = [
        (name, props)
        for name, resource in resources(template, "AWS::Lambda::Function").items()
        if (props := resource["Properties"])["Handler"] == handler
    ]
    assert len(found) == 1, f"expected one function with the handler {handler}, found {found}"
    return found[0]


def mentions(value: Any, logical_id: str) -> bool:
    """Whether an intrinsic anywhere in ``value`` refers to the resource ``logical_id``."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute and attribute[0] == logical_id:
            return True
        if isinstance(attribute, str) and attribute.split(".")[0] == logical_id:
            return True
        return any(mentions(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(mentions(item, logical_id) for item in value)
    return False


def check_items_stack(template: Template) -> tuple[str, str]:
    """The function, its table and its least-privilege policy; returns (function, table) ids."""
    table, table_props = only(template, "AWS::DynamoDB::Table")
    assert table_props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table_props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table_props["BillingMode"] == "PAY_PER_REQUEST"

    function, props = function_with_handler(template, HANDLER)
    runtime = props["Runtime"]
    assert runtime.startswith("python3.")
    assert int(runtime.removeprefix("python3.")) >= 12
    assert props["Architectures"] == ["arm64"]
    assert mentions(props["Environment"]["Variables"]["TABLE_NAME"], table)

    # Every DynamoDB permission the function has is on this table (or its indexes) only.
    role = props["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for document in _policy_documents(template, role)
        for statement in document["Statement"]
    ]
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in _list(s["Action"]))]
    assert dynamodb, "the function has no DynamoDB permission"
    actions = {action for s in dynamodb for action in _list(s["Action"])}
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= actions
    assert {"dynamodb:DeleteItem", "dynamodb:Scan"} <= actions
    assert "dynamodb:*" not in actions
    for statement in dynamodb:
        assert statement["Effect"] == "Allow"
        for resource in _list(statement["Resource"]):
            assert resource != "*"
            assert mentions(resource, table), resource
    return function, table


def check_function_url(template: Template, function: str) -> dict[str, Any]:
    """A public Function URL, with both permissions Lambda requires of one since October 2025;
    returns the URL's properties."""
    urls: list[dict[str, Any]] = [
        resource["Properties"]
        for resource in resources(template, "AWS::Lambda::Url").values()
        if mentions(resource["Properties"]["TargetFunctionArn"], function)
    ]
    assert len(urls) == 1, f"expected one Function URL for {function}, found {urls}"
    url = urls[0]
    assert url["AuthType"] == "NONE"
    permissions = [
        resource["Properties"]
        for resource in resources(template, "AWS::Lambda::Permission").values()
        if resource["Properties"]["Principal"] == "*"
    ]
    actions = {p["Action"] for p in permissions if mentions(p["FunctionName"], function)}
    assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    return url


def check_rest_stage(template: Template) -> str:
    """The REST API's one stage, v1; returns the RestApi id.

    A deployment that names a stage (its ``StageName``) creates that stage as well, beside the
    Stage resources: SAM's deployment of a Swagger 2.0 definition names one ``Stage``.
    """
    _, stage = only(template, "AWS::ApiGateway::Stage")
    assert resolve(template, stage["StageName"]) == STAGE
    rest_api, _ = only(template, "AWS::ApiGateway::RestApi")
    assert mentions(stage["RestApiId"], rest_api)
    deployments = resources(template, "AWS::ApiGateway::Deployment")
    assert deployments
    assert any(mentions(stage["DeploymentId"], name) for name in deployments)
    named = {
        name: deployment["Properties"]["StageName"]
        for name, deployment in deployments.items()
        if "StageName" in deployment["Properties"]
    }
    assert not named, f"deployments that create a stage of their own: {named}"
    return rest_api


def resolve(template: Template, value: Any) -> Any:
    """``value``, or the default of the template parameter it refers to (``{"Ref": name}``)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template.get("Parameters", {}).get(value["Ref"])
        if parameter is not None:
            return parameter["Default"]
    return value


def readme_section(title: str) -> str:
    """The text of the README section ``## title``, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def url_variable_uses(text: str) -> list[tuple[str, str]]:
    """Every use of a shell variable named ``*_URL`` in ``text``: (name, what follows it)."""
    return [
        (match["name"], match["after"])
        for match in re.finditer(r"\$\{?(?P<name>[A-Z_]+_URL)\}?(?P<after>\S?)", text)
    ]


def ends_in_slash(template: Template, value: Any) -> bool:
    """Whether an output's value, a URL, ends in "/" (as Lambda's Function URLs do)."""
    if isinstance(value, str):
        return value.endswith("/")
    if isinstance(value, dict) and "Fn::Sub" in value:
        return ends_in_slash(template, value["Fn::Sub"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return ends_in_slash(template, separator if not parts else parts[-1])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attribute_of = value["Fn::GetAtt"]
        resource, attribute = (
            attribute_of.split(".", 1) if isinstance(attribute_of, str) else attribute_of
        )
        kind = template["Resources"][resource]["Type"]
        return (kind, attribute) == ("AWS::Lambda::Url", "FunctionUrl")
    return False


def check_urls_joined_without_double_slash(template: Template, section: str) -> None:
    """Every URL output ends in "/", and the README section joins a path to one as
    ``${NAME}path``, never ``$NAME/path`` (which would request ``//path``)."""
    outputs = [name for name in template["Outputs"] if name.endswith("Url")]
    assert outputs
    for output in outputs:
        assert ends_in_slash(template, template["Outputs"][output]["Value"]), output
    uses = url_variable_uses(section)
    names = {name for name, _ in uses}
    # HTTP_API_URL for HttpApiUrl, STREAMING_FUNCTION_URL for StreamingFunctionUrl, ...
    known = {re.sub(r"(?<!^)(?=[A-Z])", "_", output).upper() for output in outputs}
    assert names, "no URL variable in the section"
    assert names <= known, names - known
    for name, after in uses:
        assert after != "/", f"${name}/...: the output ends in / already"


def _policy_documents(template: Template, role: str) -> list[dict[str, Any]]:
    documents = [
        policy["PolicyDocument"]
        for policy in template["Resources"][role]["Properties"].get("Policies", [])
    ]
    documents.extend(
        resource["Properties"]["PolicyDocument"]
        for resource in resources(template, "AWS::IAM::Policy").values()
        if any(mentions(item, role) for item in resource["Properties"]["Roles"])
    )
    return documents


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
