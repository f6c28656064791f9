"""A small IAM policy evaluator, for the statements template.yaml deploys.

Enough of IAM's evaluation logic to test what the template's policies allow and deny
within one account:

- an explicit Deny in any policy wins; otherwise an Allow in any policy (identity or
  resource: within one account either suffices) allows; otherwise the request is
  implicitly denied;
- a statement applies when its Action matches (case-insensitive, ``*`` and ``?``), its
  Resource matches (ARN globs compared segment by segment, as ArnLike does), its
  Principal matches (resource policies only) and every condition holds;
- condition operators: StringEquals, StringNotEquals, StringLike, StringNotLike, ArnLike,
  ArnNotLike, ArnEquals, ArnNotEquals, Bool and Null, each with IfExists. Policy values
  are any-of; a key missing from the request fails a positive operator and satisfies a
  negated one, and satisfies any operator with IfExists. Condition key names are
  case-insensitive.

Anything else (NotPrincipal, ForAnyValue/ForAllValues, other operators, multivalued
context keys) raises ``Unsupported``, so a policy using it cannot be judged by guesswork.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Statement = Mapping[str, Any]


class Unsupported(Exception):
    """The policy uses IAM policy language this evaluator does not implement."""


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """One API request as IAM sees it.

    ``principal`` is an IAM principal's ARN (a role's, not its session's: it becomes
    ``aws:PrincipalArn``); ``service`` a service principal such as ``sns.amazonaws.com``
    (which has no ``aws:PrincipalArn``). ``context`` holds the other condition keys; the
    request is made over TLS unless ``aws:SecureTransport`` says otherwise."""

    action: str
    resource: str
    principal: str | None = None
    service: str | None = None
    context: Mapping[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str | None:
        keys = {"aws:securetransport": "true"}
        if self.principal is not None:
            keys["aws:principalarn"] = self.principal
            keys["aws:principalaccount"] = self.principal.split(":")[4]
        keys |= {key.lower(): value for key, value in self.context.items()}
        value = keys.get(name.lower())
        if value is not None and not isinstance(value, str):
            raise Unsupported(f"multivalued context key {name}")
        return value


def decide(
    request: Request,
    identity: Iterable[Statement] = (),
    resource: Iterable[Statement] = (),
) -> Decision:
    """The decision on ``request`` under a principal's identity statements and the
    target's resource-policy statements, both of the same account."""
    matched = [s for s in identity if _applies(s, request, resource_policy=False)]
    matched += [s for s in resource if _applies(s, request, resource_policy=True)]
    if any(_effect(s) == "Deny" for s in matched):
        return Decision.EXPLICIT_DENY
    if any(_effect(s) == "Allow" for s in matched):
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY


def allowed(
    request: Request, identity: Iterable[Statement] = (), resource: Iterable[Statement] = ()
) -> bool:
    return decide(request, identity, resource) is Decision.ALLOW


# -- one statement ---------------------------------------------------------------------------


def _effect(statement: Statement) -> str:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise Unsupported(f"Effect {effect!r}")
    return str(effect)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _applies(statement: Statement, request: Request, *, resource_policy: bool) -> bool:
    _effect(statement)
    for unsupported in ("NotPrincipal", "NotAction", "NotResource"):
        if unsupported in statement:
            raise Unsupported(unsupported)
    if resource_policy != ("Principal" in statement):
        raise Unsupported("Principal belongs in resource policies, and only there")
    if not any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement["Action"])):
        return False
    if not any(_resource_matches(p, request.resource) for p in _as_list(statement["Resource"])):
        return False
    if resource_policy and not _principal_matches(statement["Principal"], request):
        return False
    return all(
        _condition_holds(operator, key, values, request)
        for operator, block in statement.get("Condition", {}).items()
        for key, values in block.items()
    )


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping) or set(principal) - {"AWS", "Service"}:
        raise Unsupported(f"Principal {principal!r}")
    for arn in _as_list(principal.get("AWS", [])):
        if request.principal is None:
            continue
        if arn == "*" or arn == request.principal:
            return True
        # An account's root stands for every principal of the account.
        if arn.endswith(":root") and arn.split(":")[4] == request.principal.split(":")[4]:
            return True
    return request.service is not None and request.service in _as_list(principal.get("Service", []))


# -- matching --------------------------------------------------------------------------------


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def arn_like(value: str, pattern: str) -> bool:
    """ArnLike: each of an ARN's six colon-separated parts matched on its own."""
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    if len(values) != 6 or len(patterns) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(patterns, values, strict=True))


def _resource_matches(pattern: str, resource: str) -> bool:
    return pattern == "*" or arn_like(resource, pattern)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        raise Unsupported(f"condition value {value!r}")
    return value


# operator: (negated, whether a request value matches one policy value)
_OPERATORS: dict[str, tuple[bool, Callable[[str, str], bool]]] = {
    "StringEquals": (False, lambda v, p: v == p),
    "StringNotEquals": (True, lambda v, p: v == p),
    "StringLike": (False, lambda v, p: _glob(p, v)),
    "StringNotLike": (True, lambda v, p: _glob(p, v)),
    "ArnEquals": (False, arn_like),
    "ArnLike": (False, arn_like),
    "ArnNotEquals": (True, arn_like),
    "ArnNotLike": (True, arn_like),
    "Bool": (False, lambda v, p: v.lower() == p.lower()),
}


def _condition_holds(operator: str, key: str, values: Any, request: Request) -> bool:
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        raise Unsupported(operator)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    patterns: Sequence[str] = [_string(v) for v in _as_list(values)]
    value = request.key(key)
    if base == "Null":
        if if_exists:
            raise Unsupported("NullIfExists")
        return any((value is None) == (p.lower() == "true") for p in patterns)
    if base not in _OPERATORS:
        raise Unsupported(operator)
    negated, match = _OPERATORS[base]
    if value is None:
        return if_exists or negated
    matched = any(match(value, p) for p in patterns)
    return not matched if negated else matched
