"""template.yaml resolved for one sample deployment, as CloudFormation and SAM would.

``Deployment`` decides the template's conditions and resolves the intrinsics its policies
use (Ref, Fn::GetAtt, Fn::Sub, Fn::Split, Fn::Select, Fn::Join, Fn::If, AWS::NoValue) for
a stack id, parameter values and sample physical names. An intrinsic it does not know
raises, so a new one in the template cannot slip past a test unresolved.

The functions' roles are SAM's: ``<Function>Role`` with the function's ``RolePath`` (its
own or Globals'), holding the function's inline statements and its SAM policy templates
expanded (the definitions below are aws-sam-translator's, from policy_templates.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tests.support.template import load_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK_NAME = "jobctl"
DEPLOYMENT_ID = "5e0c4b1a-8f2d-11ef-9a51-0a1b2c3d4e5f"
STACK_ID = f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/{DEPLOYMENT_ID}"

# CloudFormation's stand-in for "leave this out"; dropped from dicts and lists.
NO_VALUE = object()

# aws-sam-translator's policy templates the template uses (policy_templates.json).
SAM_POLICY_TEMPLATES: dict[str, dict[str, Any]] = {
    "DynamoDBCrudPolicy": {
        "Statement": [
            {
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:ConditionCheckItem",
                ],
                "Effect": "Allow",
                "Resource": [
                    {
                        "Fn::Sub": [
                            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}",
                            {"tableName": {"Ref": "TableName"}},
                        ]
                    },
                    {
                        "Fn::Sub": [
                            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}/index/*",
                            {"tableName": {"Ref": "TableName"}},
                        ]
                    },
                ],
            }
        ]
    },
    "SNSPublishMessagePolicy": {
        "Statement": [
            {
                "Action": ["sns:Publish"],
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${topicName}",
                        {"topicName": {"Ref": "TopicName"}},
                    ]
                },
            }
        ]
    },
    "SQSSendMessagePolicy": {
        "Statement": [
            {
                "Action": ["sqs:SendMessage*"],
                "Effect": "Allow",
                "Resource": {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}",
                        {"queueName": {"Ref": "QueueName"}},
                    ]
                },
            }
        ]
    },
}


class UnresolvedIntrinsic(Exception):
    """The template uses an intrinsic (or names a resource) this resolver does not know."""


@dataclass
class Deployment:
    """One deployment of template.yaml: its parameters (the template's defaults, then
    ``parameters``), pseudo parameters, and sample physical names of its resources."""

    parameters: dict[str, str] = field(default_factory=dict)
    stack_id: str = STACK_ID
    template: dict[str, Any] = field(default_factory=load_template)

    # -- identity -------------------------------------------------------------------------

    @property
    def deployment_id(self) -> str:
        return self.stack_id.split("/")[2]

    @property
    def stack_name(self) -> str:
        return self.stack_id.split("/")[1]

    def arn(self, service: str, resource: str, region: str = REGION) -> str:
        return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"

    def generated_name(self, logical_id: str) -> str:
        """A name CloudFormation would generate: stack name, logical id, a suffix."""
        return f"{self.stack_name}-{logical_id}-1A2B3C4D5E6F"

    # -- parameters and conditions --------------------------------------------------------

    @cached_property
    def values(self) -> dict[str, Any]:
        defaults = {
            name: str(spec.get("Default", "")) for name, spec in self.template["Parameters"].items()
        }
        return {
            **defaults,
            **self.parameters,
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def condition(self, name: str) -> bool:
        return bool(self._condition_value(self.template["Conditions"][name]))

    def _condition_value(self, expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Fn::Equals":
                left, right = (self._condition_value(side) for side in argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not self._condition_value(argument[0])
            if function == "Fn::And":
                return all(self._condition_value(item) for item in argument)
            if function == "Fn::Or":
                return any(self._condition_value(item) for item in argument)
            if function == "Condition":
                return self.condition(argument)
        return self.resolve(expression)

    # -- resources --------------------------------------------------------------------------

    def resource(self, logical_id: str) -> dict[str, Any]:
        resources = self.template["Resources"]
        if logical_id in resources:
            found: dict[str, Any] = resources[logical_id]
            return found
        raise UnresolvedIntrinsic(f"no resource {logical_id}")

    def function_property(self, logical_id: str, name: str, default: Any = None) -> Any:
        own = self.resource(logical_id)["Properties"]
        shared = self.template.get("Globals", {}).get("Function", {})
        return own.get(name, shared.get(name, default))

    def role_arn(self, function: str) -> str:
        """The ARN of the role SAM makes for a function (``<Function>Role``)."""
        path = self.resolve(self.function_property(function, "RolePath", "/"))
        return f"arn:{PARTITION}:iam::{ACCOUNT}:role{path}{self.generated_name(function + 'Role')}"

    def topic_name(self, logical_id: str) -> str:
        name = self.resource(logical_id)["Properties"].get("TopicName")
        return str(self.resolve(name)) if name is not None else self.generated_name(logical_id)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.values:
            return self.values[name]
        kind = self.resource(name)["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.generated_name(name)}"
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", self.topic_name(name))
        if kind == "AWS::KMS::Key":
            return "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::Function"):
            return self.generated_name(name)
        raise UnresolvedIntrinsic(f"Ref {name} ({kind})")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id.endswith("Role") and attribute == "Arn":
            function = logical_id.removesuffix("Role")
            if self.resource(function)["Type"] == "AWS::Serverless::Function":
                return self.role_arn(function)
        kind = self.resource(logical_id)["Type"]
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return self.arn("sqs", self.generated_name(logical_id))
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.generated_name(logical_id)
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return self.topic_name(logical_id)
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return self.ref(logical_id)
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return self.arn("kms", f"key/{self.ref(logical_id)}")
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return self.arn("dynamodb", f"table/{self.ref(logical_id)}")
        raise UnresolvedIntrinsic(f"GetAtt {logical_id}.{attribute} ({kind})")

    # -- intrinsics -------------------------------------------------------------------------

    def resolve(self, value: Any, variables: dict[str, Any] | None = None) -> Any:
        """``value`` as CloudFormation would deploy it (NO_VALUE where it leaves it out)."""
        if isinstance(value, list):
            items = [self.resolve(item, variables) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                if variables is not None and argument in variables:
                    return variables[argument]
                return self.ref(argument)
            if name.startswith("Fn::") or name == "Condition":
                return self._function(name, argument, variables)
        resolved = {key: self.resolve(item, variables) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any, variables: dict[str, Any] | None) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument
            return self.get_att(logical_id, attribute)
        if name == "Fn::Sub":
            text, own = (argument, {}) if isinstance(argument, str) else argument
            scope = {**(variables or {}), **{k: self.resolve(v, variables) for k, v in own.items()}}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub_name(m[1], scope)), text)
        if name == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text, variables)).split(separator)
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items, variables)[int(self.resolve(index, variables))]
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in self.resolve(items, variables))
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false, variables)
        raise UnresolvedIntrinsic(name)

    def _sub_name(self, name: str, scope: dict[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.get_att(logical_id, attribute)
        return self.ref(name)

    # -- policies as deployed -----------------------------------------------------------------

    def role_statements(self, function: str) -> list[dict[str, Any]]:
        """Every statement of the role SAM makes for ``function``: its inline statements
        and its SAM policy templates, expanded."""
        found: list[dict[str, Any]] = []
        for policy in self.resource(function)["Properties"].get("Policies", []):
            if not isinstance(policy, dict):
                raise UnresolvedIntrinsic(f"managed policy {policy!r}")
            if "Statement" in policy:
                found.extend(self.resolve(policy["Statement"]))
                continue
            ((template_name, arguments),) = policy.items()
            if template_name not in SAM_POLICY_TEMPLATES:
                raise UnresolvedIntrinsic(f"SAM policy template {template_name}")
            bound = {key: self.resolve(item) for key, item in arguments.items()}
            definition = SAM_POLICY_TEMPLATES[template_name]["Statement"]
            found.extend(self.resolve(definition, variables=bound))
        return found

    def policy_statements(self, logical_id: str, *path: str) -> list[dict[str, Any]]:
        """The statements of a resource's policy document, found at ``path`` under its
        Properties (e.g. ``"PolicyDocument"`` or ``"ResourcePolicy", "PolicyDocument"``);
        none if the template leaves the policy out for these parameters."""
        value: Any = self.resolve(self.resource(logical_id)["Properties"])
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return []
            value = value[key]
        statements: list[dict[str, Any]] = value["Statement"]
        return statements
