"""Read template.yaml, so the local stack and the tests are built from the template itself."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads short-form intrinsics (!Ref, !Sub, ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as stream:
        template: dict[str, Any] = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506
    return template  # (the loader is a SafeLoader subclass)


def resource(logical_id: str) -> dict[str, Any]:
    return load_template()["Resources"][logical_id]  # type: ignore[no-any-return]


def table_create_kwargs(logical_id: str, table_name: str) -> dict[str, Any]:
    """boto3 ``create_table`` arguments for a table of the template."""
    properties = resource(logical_id)["Properties"]
    kwargs = {
        "TableName": table_name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in properties:
        kwargs["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return kwargs


def function_events(logical_id: str) -> dict[str, dict[str, Any]]:
    """The SAM ``Events`` of a function (its triggers), by event name."""
    return resource(logical_id)["Properties"].get("Events", {})  # type: ignore[no-any-return]


def event_patterns(logical_id: str = "ReconcileFunction") -> list[dict[str, Any]]:
    """The EventBridge rule patterns that invoke a function."""
    return [
        event["Properties"]["Pattern"]
        for event in function_events(logical_id).values()
        if event["Type"] in ("EventBridgeRule", "CloudWatchEvent")
    ]
