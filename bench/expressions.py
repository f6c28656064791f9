"""DynamoDB's expression language, evaluated on items in their wire form (``{"S": "x"}``),
for ``bench.fakes.FakeDynamoDB``.

Conditions (also key conditions and filters): comparisons ``= <> < <= > >=``,
``BETWEEN``, ``IN``, ``AND`` / ``OR`` / ``NOT`` and parentheses, the functions
``attribute_exists``, ``attribute_not_exists``, ``attribute_type``, ``begins_with``,
``contains`` and ``size``. Updates: ``SET`` (a value, ``a + b``, ``a - b``,
``if_not_exists``, ``list_append``), ``REMOVE``, ``ADD`` and ``DELETE``. Paths may be
nested (``holders.#holder``, ``items[0]``) and use ``#name`` and ``:value`` placeholders.
Expressions are parsed once and kept. A mistake raises ``ExpressionError``, as DynamoDB
answers ``ValidationException``.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

Item = dict[str, Any]  # attribute name -> typed value ({"S": ...}, {"N": ...}, {"M": {...}})
Path = tuple[str | int, ...]  # names resolved later (placeholders stay as written)

_TOKEN = re.compile(
    r"\s*(?:(?P<index>\[\d+\])|(?P<word>#?[A-Za-z_][\w-]*)|(?P<value>:[\w-]+)"
    r"|(?P<op><>|<=|>=|[=<>(),.+\-]))"
)
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"}
_SETS = ("SS", "NS", "BS")


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise ExpressionError(f"cannot read {text[at:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def keyword(self, *words: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text.upper() in words

    def take(self, text: str | None = None) -> str:
        kind, found = self.peek()
        if kind == "end" or (text is not None and found.upper() != text):
            raise ExpressionError(f"expected {text or 'more'}, found {found or 'the end'}")
        self.at += 1
        return found

    def done(self) -> None:
        if self.peek()[0] != "end":
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")

    # -- operands ---------------------------------------------------------------------------

    def path(self) -> Path:
        kind, text = self.peek()
        if kind != "word" or text.upper() in _KEYWORDS:
            raise ExpressionError(f"expected an attribute, found {text or 'the end'}")
        self.at += 1
        parts: list[str | int] = [text]
        while True:
            kind, text = self.peek()
            if kind == "index":
                parts.append(int(text[1:-1]))
                self.at += 1
            elif text == ".":
                self.at += 1
                parts.append(self.take())
            else:
                return tuple(parts)

    def operand(self) -> tuple[Any, ...]:
        kind, text = self.peek()
        if kind == "value":
            self.at += 1
            return ("value", text)
        if kind == "word" and self.peek(1)[1] == "(":
            name = self.take()
            self.take("(")
            args = [self.operand()]
            while self.peek()[1] == ",":
                self.at += 1
                args.append(self.operand())
            self.take(")")
            return ("call", name, args)
        return ("path", self.path())

    # -- conditions -------------------------------------------------------------------------

    def condition(self) -> tuple[Any, ...]:
        terms = [self.conjunction()]
        while self.keyword("OR"):
            self.at += 1
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else ("or", terms)

    def conjunction(self) -> tuple[Any, ...]:
        terms = [self.negation()]
        while self.keyword("AND"):
            self.at += 1
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def negation(self) -> tuple[Any, ...]:
        if self.keyword("NOT"):
            self.at += 1
            return ("not", self.negation())
        if self.peek()[1] == "(":
            self.at += 1
            inner = self.condition()
            self.take(")")
            return inner
        left = self.operand()
        text = self.peek()[1]
        if text in ("=", "<>", "<", "<=", ">", ">="):
            self.at += 1
            return ("compare", text, left, self.operand())
        if self.keyword("BETWEEN"):
            self.at += 1
            low = self.operand()
            self.take("AND")
            return ("between", left, low, self.operand())
        if self.keyword("IN"):
            self.at += 1
            self.take("(")
            options = [self.operand()]
            while self.peek()[1] == ",":
                self.at += 1
                options.append(self.operand())
            self.take(")")
            return ("in", left, options)
        if left[0] == "call":
            return ("test", left)
        raise ExpressionError(f"expected a comparison, found {text or 'the end'}")

    # -- updates ----------------------------------------------------------------------------

    def update(self) -> dict[str, list[tuple[Any, ...]]]:
        clauses: dict[str, list[tuple[Any, ...]]] = {}
        while self.peek()[0] != "end":
            action = self.take().upper()
            if action not in ("SET", "REMOVE", "ADD", "DELETE") or action in clauses:
                raise ExpressionError(f"unexpected {action}")
            clauses[action] = []
            while True:
                clauses[action].append(self.action(action))
                if self.peek()[1] != ",":
                    break
                self.at += 1
        return clauses

    def action(self, action: str) -> tuple[Any, ...]:
        target = self.path()
        if action == "REMOVE":
            return (target,)
        if action in ("ADD", "DELETE"):
            return (target, self.operand())
        self.take("=")
        first = self.operand()
        if self.peek()[1] in ("+", "-"):
            sign = self.take()
            return (target, ("arithmetic", sign, first, self.operand()))
        return (target, first)


@functools.cache
def parse_condition(text: str) -> tuple[Any, ...]:
    parser = _Parser(text)
    tree = parser.condition()
    parser.done()
    return tree


@functools.cache
def parse_update(text: str) -> dict[str, list[tuple[Any, ...]]]:
    return _Parser(text).update()


def parse_projection(text: str) -> list[Path]:
    parser = _Parser(text)
    paths = [parser.path()]
    while parser.peek()[1] == ",":
        parser.at += 1
        paths.append(parser.path())
    parser.done()
    return paths


# -- evaluation ------------------------------------------------------------------------------


class Scope:
    """An expression's placeholders: ``#name`` → attribute, ``:value`` → typed value."""

    def __init__(self, names: Mapping[str, str] | None, values: Mapping[str, Any] | None) -> None:
        self.names = names or {}
        self.values = values or {}

    def name(self, part: str | int) -> str | int:
        if isinstance(part, str) and part.startswith("#"):
            if part not in self.names:
                raise ExpressionError(f"{part} is not defined")
            return self.names[part]
        return part

    def value(self, placeholder: str) -> Any:
        if placeholder not in self.values:
            raise ExpressionError(f"{placeholder} is not defined")
        return self.values[placeholder]


def get(item: Item, path: Path, scope: Scope) -> Any:
    """The typed value at ``path``; None if it is missing."""
    current: Any = {"M": item}
    for part in map(scope.name, path):
        if isinstance(part, int):
            items = current.get("L") if isinstance(current, dict) else None
            current = items[part] if items is not None and part < len(items) else None
        else:
            members = current.get("M") if isinstance(current, dict) else None
            current = members.get(part) if members is not None else None
        if current is None:
            return None
    return current


def _plain(value: Any) -> tuple[str, Any]:
    (kind, raw), *_ = value.items()
    if kind == "N":
        return kind, Decimal(raw)
    if kind == "NS":
        return kind, {Decimal(n) for n in raw}
    if kind in ("SS", "BS"):
        return kind, set(raw)
    return kind, raw


def _number(value: Decimal) -> dict[str, str]:
    text = format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return {"N": text}


def _size(value: Any) -> Any:
    if value is None:
        return None
    (kind, raw), *_ = value.items()
    if kind in ("S", "B", "SS", "NS", "BS", "L", "M"):
        return {"N": str(len(raw))}
    raise ExpressionError(f"size() of a {kind}")


def _operand(item: Item, operand: tuple[Any, ...], scope: Scope) -> Any:
    kind = operand[0]
    if kind == "value":
        return scope.value(operand[1])
    if kind == "path":
        return get(item, operand[1], scope)
    name, args = operand[1], operand[2]
    if name == "size":
        return _size(_operand(item, args[0], scope))
    if name == "if_not_exists":
        found = _operand(item, args[0], scope)
        return found if found is not None else _operand(item, args[1], scope)
    if name == "list_append":
        first, second = (_operand(item, a, scope) or {"L": []} for a in args)
        return {"L": [*first["L"], *second["L"]]}
    raise ExpressionError(f"{name}() is not an operand")


def _compare(operator: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    (left_kind, a), (right_kind, b) = _plain(left), _plain(right)
    if left_kind != right_kind:
        return operator == "<>"
    tests: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda x, y: x == y,
        "<>": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    return tests[operator](a, b)


def _test(item: Item, call: tuple[Any, ...], scope: Scope) -> bool:
    name, args = call[1], call[2]
    first = _operand(item, args[0], scope)
    if name == "attribute_exists":
        return first is not None
    if name == "attribute_not_exists":
        return first is None
    if first is None:
        return False
    second = _operand(item, args[1], scope) if len(args) > 1 else None
    if name == "attribute_type":
        return second is not None and next(iter(first)) == _plain(second)[1]
    if name == "begins_with":
        kind, text = _plain(first)
        return kind == "S" and isinstance(text, str) and text.startswith(_plain(second)[1])
    if name == "contains":
        kind, container = _plain(first)
        if kind == "S":
            return _plain(second)[1] in container
        if kind in _SETS:
            return _plain(second)[1] in container
        if kind == "L":
            return second in container
        return False
    raise ExpressionError(f"{name}() is not a condition")


def holds(tree: tuple[Any, ...], item: Item, scope: Scope) -> bool:
    kind = tree[0]
    if kind == "or":
        return any(holds(term, item, scope) for term in tree[1])
    if kind == "and":
        return all(holds(term, item, scope) for term in tree[1])
    if kind == "not":
        return not holds(tree[1], item, scope)
    if kind == "compare":
        return _compare(tree[1], _operand(item, tree[2], scope), _operand(item, tree[3], scope))
    if kind == "between":
        value = _operand(item, tree[1], scope)
        low, high = (_operand(item, bound, scope) for bound in tree[2:])
        return _compare(">=", value, low) and _compare("<=", value, high)
    if kind == "in":
        value = _operand(item, tree[1], scope)
        return any(_compare("=", value, _operand(item, o, scope)) for o in tree[2])
    return _test(item, tree[1], scope)


def condition_holds(text: str | None, item: Item | None, scope: Scope) -> bool:
    return text is None or holds(parse_condition(text), item or {}, scope)


def _parent(item: Item, path: Path, scope: Scope) -> tuple[Any, str | int]:
    """The container (a dict of members, or a list) holding ``path``'s last part."""
    *head, last = (scope.name(part) for part in path)
    container: Any = item
    for part in head:
        if isinstance(container, list):
            node = container[part] if isinstance(part, int) and part < len(container) else None
        else:
            node = container.get(part)
        if node is None:
            raise ExpressionError("the document path provided in the update expression is invalid")
        container = node.get("L", node.get("M"))
        if container is None:
            raise ExpressionError("the document path provided in the update expression is invalid")
    return container, last


def _put(item: Item, path: Path, value: Any, scope: Scope) -> None:
    container, last = _parent(item, path, scope)
    if isinstance(container, list):
        assert isinstance(last, int)  # noqa: S101 - a list is indexed by a number
        if last < len(container):
            container[last] = value
        else:
            container.append(value)
    else:
        container[last] = value


def _drop(item: Item, path: Path, scope: Scope) -> None:
    try:
        container, last = _parent(item, path, scope)
    except ExpressionError:
        return  # removing what is not there changes nothing
    if isinstance(container, list):
        if isinstance(last, int) and last < len(container):
            container.pop(last)
    else:
        container.pop(last, None)


def updated(text: str, item: Item, scope: Scope) -> Item:
    """A new item: ``item`` (not changed) after the update expression."""
    new = copy.deepcopy(item)
    clauses = parse_update(text)
    for target, value in clauses.get("SET", []):
        _put(new, target, _set_value(item, value, scope), scope)
    for (target,) in clauses.get("REMOVE", []):
        _drop(new, target, scope)
    for target, operand in clauses.get("ADD", []):
        amount, current = _operand(item, operand, scope), get(new, target, scope)
        kind = next(iter(amount))
        if kind == "N":
            base = Decimal(current["N"]) if current else Decimal(0)
            _put(new, target, _number(base + Decimal(amount["N"])), scope)
        elif kind in _SETS:
            members = list(current[kind]) if current else []
            members += [m for m in amount[kind] if m not in members]
            _put(new, target, {kind: members}, scope)
        else:
            raise ExpressionError(f"ADD of a {kind}")
    for target, operand in clauses.get("DELETE", []):
        gone, current = _operand(item, operand, scope), get(new, target, scope)
        kind = next(iter(gone))
        if current is None:
            continue
        members = [m for m in current[kind] if m not in gone[kind]]
        if members:
            _put(new, target, {kind: members}, scope)
        else:
            _drop(new, target, scope)
    return new


def _set_value(item: Item, value: tuple[Any, ...], scope: Scope) -> Any:
    if value[0] != "arithmetic":
        found = _operand(item, value, scope)
        if found is None:
            raise ExpressionError("an operand in the update expression does not exist")
        return copy.deepcopy(found)
    sign, left, right = value[1:]
    a, b = _operand(item, left, scope), _operand(item, right, scope)
    if a is None or b is None or "N" not in a or "N" not in b:
        raise ExpressionError("an operand in the update expression has the wrong type")
    total = Decimal(a["N"]) + Decimal(b["N"]) if sign == "+" else Decimal(a["N"]) - Decimal(b["N"])
    return _number(total)


def project(item: Item, paths: list[Path], scope: Scope) -> Item:
    """The top-level attributes ``paths`` start with (enough for the projections here)."""
    keep = {scope.name(path[0]) for path in paths}
    return {name: value for name, value in item.items() if name in keep}


def sort_key(value: Any) -> Any:
    return _plain(value)[1] if value is not None else ""
