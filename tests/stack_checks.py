"""What template.yaml and the CDK stack must both deploy, checked on CloudFormation resources.

The SAM template is checked after SAM's own transform, the CDK stack after synthesis: either
way the assertions read the resources CloudFormation would create.
"""

from __future__ import annotations

from typing import Any

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
    """The REST API's named stage; returns the RestApi id."""
    _, stage = only(template, "AWS::ApiGateway::Stage")
    assert stage["StageName"] in (STAGE, {"Ref": "RestApiStageName"})
    rest_api, _ = only(template, "AWS::ApiGateway::RestApi")
    assert mentions(stage["RestApiId"], rest_api)
    return rest_api


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
