"""OData query options of Graph requests: ``$select``, ``$top``, ``$skip``, ``$orderby``,
``$expand``, ``$count`` and ``$filter``.

``$filter`` is parsed into a small expression tree (comparisons, ``and``/``or``/``not``,
``startswith``/``endswith``/``contains``, ``any``/``all`` lambdas such as
``singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')``) and evaluated on
an event's JSON. Strings compare case-insensitively, as Exchange's restrictions do; extended
property ids compare in their canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from roomsync_sim.graph.errors import GraphError
from roomsync_sim.graph.extprops import normalise_id

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_@$][\w.@$]*)"
    r"|(?P<op>[()/,:]))"
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


def invalid_filter(detail: str = "") -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause{': ' + detail if detail else ''}")


# --- query options -------------------------------------------------------------------------------


@dataclass
class Query:
    """The query string of a request; option names are case-insensitive, ``$`` optional."""

    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: str) -> Query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key.lower().lstrip("$")] = value
        return cls(params)

    def get(self, name: str) -> str | None:
        return self.params.get(name.lower())

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise GraphError(
                400, "BadRequest", f"Invalid value '{value}' for query option ${name}."
            ) from None
        if number < 0:
            raise GraphError(400, "BadRequest", f"Invalid value '{value}' for query option ${name}.")
        return number

    def select(self) -> list[str] | None:
        value = self.get("select")
        return [s.strip() for s in value.split(",") if s.strip()] if value else None

    def expand(self) -> dict[str, Node | None]:
        """Expanded navigation properties, each with its ``$filter`` (None: all)."""
        value = self.get("expand")
        out: dict[str, Node | None] = {}
        if not value:
            return out
        for part in _split_top(value, ","):
            name, _, rest = part.strip().partition("(")
            flt: Node | None = None
            if rest:
                for option in _split_top(rest.rstrip(")"), ";"):
                    key, _, val = option.partition("=")
                    if key.strip().lower().lstrip("$") == "filter":
                        flt = parse_filter(val)
            out[name.strip().lower()] = flt
        return out

    def orderby(self) -> list[tuple[str, bool]]:
        value = self.get("orderby")
        out = []
        for part in (value or "").split(","):
            words = part.split()
            if words:
                out.append((words[0], len(words) > 1 and words[1].lower() == "desc"))
        return out


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def lookup(obj: Any, path: str) -> Any:
    """A property path (``start/dateTime``) on JSON, case-insensitively; None when absent."""
    for part in path.split("/"):
        if not isinstance(obj, dict):
            return None
        if part in obj:
            obj = obj[part]
            continue
        lowered = part.lower()
        obj = next((v for k, v in obj.items() if k.lower() == lowered), None)
    return obj


def wants_count(query: Query) -> bool:
    """Whether ``$count=true`` asks for ``@odata.count``; a value other than true or false is a
    400 ``BadRequest``, as an OData service answers it."""
    value = query.get("count")
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise GraphError(400, "BadRequest", f"Invalid value '{value}' for query option $count.")
    return lowered == "true"


def select(obj: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    """``$select``: the named properties plus ``@odata.etag`` and ``id`` (always returned)."""
    if not names:
        return obj
    wanted = {n.lower() for n in names} | {"id", "@odata.etag", "@odata.type", "@removed"}
    return {k: v for k, v in obj.items() if k.lower() in wanted}


def order(items: list[dict[str, Any]], keys: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for path, desc in reversed(keys):
        present = [i for i in items if lookup(i, path) is not None]
        absent = [i for i in items if lookup(i, path) is None]
        present.sort(key=lambda i: _sortable(lookup(i, path)), reverse=desc)
        items = present + absent
    return items


def _sortable(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# --- $filter ---------------------------------------------------------------------------------------

Node = Callable[[dict[str, Any]], Any]


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    pos: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.items[i] if i < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def word(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "name" and value.lower() in words:
            self.pos += 1
            return True
        return False

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if kind != "op" or value != op:
            raise invalid_filter(f"expected '{op}'")


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise invalid_filter(f"unexpected '{text[pos : pos + 10]}'")
        kind = match.lastgroup or "op"
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse_filter(text: str) -> Node:
    tokens = _Tokens(_tokenize(text))
    node = _or(tokens)
    if tokens.peek()[0] != "end":
        raise invalid_filter(f"unexpected '{tokens.peek()[1]}'")
    return node


def _or(tk: _Tokens) -> Node:
    left = _and(tk)
    while tk.word("or"):
        right = _and(tk)
        left = (lambda a, b: lambda env: bool(a(env)) or bool(b(env)))(left, right)
    return left


def _and(tk: _Tokens) -> Node:
    left = _not(tk)
    while tk.word("and"):
        right = _not(tk)
        left = (lambda a, b: lambda env: bool(a(env)) and bool(b(env)))(left, right)
    return left


def _not(tk: _Tokens) -> Node:
    if tk.word("not"):
        inner = _not(tk)
        return lambda env: not inner(env)
    return _comparison(tk)


def _comparison(tk: _Tokens) -> Node:
    left, left_path = _primary(tk)
    kind, value = tk.peek()
    if kind == "name" and value.lower() in _COMPARE:
        tk.take()
        right, right_path = _primary(tk)
        op = value.lower()
        is_id = "id" in ((left_path or "").lower().split("/")[-1], (right_path or "").lower().split("/")[-1])
        return lambda env: _compare(op, left(env), right(env), is_id)
    return left


def _primary(tk: _Tokens) -> tuple[Node, str | None]:
    kind, value = tk.take()
    if kind == "op" and value == "(":
        node = _or(tk)
        tk.expect(")")
        return node, None
    if kind == "str":
        text = value[1:-1].replace("''", "'")
        return (lambda env: text), None
    if kind == "dt":
        return (lambda env: value), None
    if kind == "num":
        number = float(value) if "." in value else int(value)
        return (lambda env: number), None
    if kind != "name":
        raise invalid_filter(f"unexpected '{value}'")
    lowered = value.lower()
    if lowered in ("true", "false"):
        flag = lowered == "true"
        return (lambda env: flag), None
    if lowered == "null":
        return (lambda env: None), None
    if lowered in ("startswith", "endswith", "contains") and tk.peek() == ("op", "("):
        tk.take()
        a, _ = _primary(tk)
        tk.expect(",")
        b, _ = _primary(tk)
        tk.expect(")")
        return (lambda env: _string_function(lowered, a(env), b(env))), None
    path = value
    while tk.peek() == ("op", "/"):
        tk.take()
        kind2, part = tk.take()
        if kind2 != "name":
            raise invalid_filter("a property path ends with '/'")
        if part.lower() in ("any", "all") and tk.peek() == ("op", "("):
            return _lambda(tk, path, part.lower()), None
        path = f"{path}/{part}"
    return (lambda env: _resolve(env, path)), path


def _lambda(tk: _Tokens, collection: str, kind: str) -> Node:
    tk.expect("(")
    var_kind, var = tk.take()
    if var_kind != "name":
        raise invalid_filter("a lambda needs a variable")
    tk.expect(":")
    body = _or(tk)
    tk.expect(")")

    def evaluate(env: dict[str, Any]) -> bool:
        values = _resolve(env, collection) or []
        if not isinstance(values, list):
            return False
        test = any if kind == "any" else all
        return test(bool(body({**env, "$vars": {**env.get("$vars", {}), var.lower(): v}})) for v in values)

    return evaluate


def _resolve(env: dict[str, Any], path: str) -> Any:
    head, _, rest = path.partition("/")
    variables = env.get("$vars", {})
    if head.lower() in variables:
        base = variables[head.lower()]
        return lookup(base, rest) if rest else base
    return lookup(env, path)


def _string_function(name: str, a: Any, b: Any) -> bool:
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    a, b = a.lower(), b.lower()
    return a.startswith(b) if name == "startswith" else a.endswith(b) if name == "endswith" else b in a


def _as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10 or value[4:5] != "-":
        return None
    text = re.sub(r"(\.\d{1,6})\d*", r"\1", value)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt


def _compare(op: str, a: Any, b: Any, is_id: bool) -> bool:
    if is_id and isinstance(a, str) and isinstance(b, str):
        a, b = normalise_id(a).lower(), normalise_id(b).lower()
    da, db = _as_datetime(a), _as_datetime(b)
    if da is not None and db is not None:
        a, b = da, db
    elif isinstance(a, str) and isinstance(b, str):
        a, b = a.lower(), b.lower()
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False
