"""Read template.yaml, so the local stack and the tests are built from the template itself
(tables, queues, EventBridge patterns, function settings) and cannot drift from it.

The template and the sample events ship inside this package (``jobctl_tools/resources``,
links to the checkout's own files), so an installed copy has them too."""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

RESOURCES = Path(str(files("jobctl_tools") / "resources"))
TEMPLATE = RESOURCES / "template.yaml"
EVENTS = RESOURCES / "events"


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation's short-form intrinsics as their long form:
    ``!Ref X`` → ``{"Ref": "X"}``, ``!GetAtt A.B`` → ``{"Fn::GetAtt": ["A", "B"]}``,
    ``!Sub s`` → ``{"Fn::Sub": s}``, ``!If [...]``, ``!Split [...]`` and so on."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def _parsed(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        # CloudFormationLoader is a SafeLoader: it builds plain data only.
        template: dict[str, Any] = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506
    return template


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as a dict, short-form intrinsics in their long form (a fresh copy)."""
    return copy.deepcopy(_parsed(path))


def resource(logical_id: str) -> dict[str, Any]:
    """One resource of the template (``Type``, ``Properties``, ...)."""
    found: dict[str, Any] = copy.deepcopy(_parsed(TEMPLATE)["Resources"][logical_id])
    return found


def table_create_kwargs(logical_id: str, table_name: str) -> dict[str, Any]:
    """boto3 ``dynamodb.create_table`` arguments for a table of the template."""
    properties = resource(logical_id)["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in properties:
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "ProvisionedThroughput" in properties:
        kwargs["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    return kwargs


def function_events(logical_id: str) -> dict[str, dict[str, Any]]:
    """The SAM ``Events`` (triggers) of a function, by event name."""
    events: dict[str, dict[str, Any]] = resource(logical_id)["Properties"].get("Events", {})
    return events


def event_patterns(
    logical_id: str = "ReconcileFunction", parameters: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The EventBridge rule patterns that invoke a function (ReconcileFunction by default),
    with the template's conditions decided for ``parameters`` (else the defaults)."""
    return [
        resolve_conditions(event["Properties"]["Pattern"], parameters or {})
        for event in function_events(logical_id).values()
        if event["Type"] in ("EventBridgeRule", "CloudWatchEvent")
    ]


def resolve_conditions(value: Any, parameters: dict[str, str]) -> Any:
    """``value`` with every Fn::If decided (the conditions the template uses: Fn::Equals and
    Fn::Not over parameters)."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        chosen = when_true if _holds(condition, parameters) else when_false
        return resolve_conditions(chosen, parameters)
    if isinstance(value, dict):
        return {key: resolve_conditions(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_conditions(item, parameters) for item in value]
    return value


def _holds(condition: str, parameters: dict[str, str]) -> bool:
    template = _parsed(TEMPLATE)
    values = {
        name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()
    } | parameters

    def evaluate(expression: Any) -> Any:
        if isinstance(expression, dict) and "Fn::Equals" in expression:
            left, right = (evaluate(side) for side in expression["Fn::Equals"])
            return str(left) == str(right)
        if isinstance(expression, dict) and "Fn::Not" in expression:
            return not evaluate(expression["Fn::Not"][0])
        if isinstance(expression, dict) and "Ref" in expression:
            return values[expression["Ref"]]
        if isinstance(expression, dict) and "Condition" in expression:
            return evaluate(template["Conditions"][expression["Condition"]])
        return expression

    return bool(evaluate(template["Conditions"][condition]))
