"""The SOQL subset the service uses, parsed and evaluated against the store.

Supported::

    SELECT field[, field…] | COUNT()       fields may follow one parent relationship (Who.Name)
    FROM object
    [WHERE condition]                       = != <> < <= > >= IN (…) NOT IN (…) LIKE, AND OR NOT,
                                            parentheses; 'strings', numbers, TRUE/FALSE, NULL,
                                            2024-01-01T00:00:00Z date-times and 2024-01-01 dates
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST][, …]]
    [LIMIT n] [OFFSET n]

As in Salesforce, keywords, object and field names are case-insensitive, text comparisons
(``=``, ``LIKE``, ordering) ignore case, ``!=`` matches nulls, and literals must have the field's
type (a date-time field wants an unquoted date-time, a text field a quoted string). Anything
outside the subset (aggregates other than ``COUNT()``, ``GROUP BY``, sub-queries, date literals
such as ``LAST_N_DAYS:7``, bind variables) fails with ``MALFORMED_QUERY``; an unknown field with
``INVALID_FIELD``; an unknown object with ``INVALID_TYPE``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from activity_sync_tools.sandbox.salesforce.errors import SalesforceError, malformed_query
from activity_sync_tools.sandbox.salesforce.ids import parse_id
from activity_sync_tools.sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from activity_sync_tools.sandbox.salesforce.store import Store, StoredRecord
from activity_sync_tools.sandbox.salesforce.values import (
    NUMBER_TYPES,
    STRING_TYPES,
    Value,
    parse_date,
    parse_datetime,
    to_json,
)

MAX_OFFSET = 2000

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "COUNT",
        "GROUP",
        "HAVING",
        "WITH",
        "USING",
        "FOR",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    }
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str  # datetime | date | number | string | op | punct | ident | keyword | end
    text: str
    column: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | datetime | date
    value: Value


@dataclass(frozen=True)
class FieldPath:
    text: str  # as written
    relationship: FieldDef | None  # the parent reference field when the path has two parts
    target_name: str  # the field on the record (or on the parent record)
    definition: FieldDef  # the field definition (of the parent object for relationships)


@dataclass(frozen=True)
class Comparison:
    path: FieldPath
    operator: str
    literal: Literal


@dataclass(frozen=True)
class Membership:
    path: FieldPath
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: FieldPath
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Junction:
    operator: str  # AND | OR
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Negation:
    part: Condition


Condition = Comparison | Membership | Like | Junction | Negation


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    sobject: ObjectDef
    fields: list[FieldPath] = field(default_factory=list)
    count_only: bool = False
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise malformed_query(
                f"\n{text}\nERROR at Row:1:Column:{position + 1}\nunexpected token: '{text[position]}'"
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            value = match.group()
            if kind == "ident" and value.upper() in _KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, value, position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            if nxt in ("%", "_"):
                out.append("\\" + nxt)  # kept escaped for LIKE
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                raise malformed_query(
                    f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}' in string literal."
                )
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.text = text
        self.schema = schema
        self.tokens = _tokenize(text)
        self.index = 0
        self.sobject: ObjectDef | None = None

    # -- token helpers ---------------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | None = None) -> SalesforceError:
        token = token or self.peek()
        shown = token.text if token.kind != "end" else "<EOF>"
        return malformed_query(
            f"\n{self.text}\nERROR at Row:1:Column:{token.column}\nunexpected token: '{shown}'"
        )

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.upper in words

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.fail()
        return self.advance()

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token.kind == "punct" and token.text == char

    def expect_punct(self, char: str) -> Token:
        if not self.at_punct(char):
            raise self.fail()
        return self.advance()

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        raw_fields: list[Token] = []
        count_only = False
        if self.at_keyword("COUNT"):
            self.advance()
            self.expect_punct("(")
            if not self.at_punct(")"):
                raise malformed_query(
                    "The sandbox supports COUNT() only, not COUNT(field) or other aggregates"
                )
            self.expect_punct(")")
            count_only = True
        else:
            while True:
                token = self.advance()
                if token.kind != "ident":
                    if token.kind == "punct" and token.text == "(":
                        raise malformed_query("Sub-queries are not supported by the Salesforce sandbox")
                    raise self.fail(token)
                if self.at_punct("("):
                    raise malformed_query(
                        f"Aggregate or function '{token.text}()' is not supported by the sandbox"
                    )
                raw_fields.append(token)
                if self.at_punct(","):
                    self.advance()
                    continue
                break
        self.expect_keyword("FROM")
        object_token = self.advance()
        if object_token.kind != "ident" or "." in object_token.text:
            raise self.fail(object_token)
        sobject = self.schema.get(object_token.text)
        if sobject is None:
            raise SalesforceError(
                "INVALID_TYPE",
                f"\n{self.text}\nERROR at Row:1:Column:{object_token.column}\n"
                f"sObject type '{object_token.text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
                400,
            )
        self.sobject = sobject
        query = Query(sobject=sobject, count_only=count_only)
        seen: set[str] = set()
        for token in raw_fields:
            path = self.field_path(token)
            key = path.text.lower()
            if key in seen:
                raise malformed_query(f"duplicate field selected: {path.text}")
            seen.add(key)
            query.fields.append(path)
        if self.at_keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.at_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = self.order_items()
        if self.at_keyword("LIMIT"):
            self.advance()
            query.limit = self.non_negative_int()
        if self.at_keyword("OFFSET"):
            self.advance()
            query.offset = self.non_negative_int()
            if query.offset > MAX_OFFSET:
                raise SalesforceError(
                    "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}", 400
                )
        if self.peek().kind != "end":
            raise self.fail()
        return query

    def non_negative_int(self) -> int:
        token = self.advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        return int(token.text)

    def field_path(self, token: Token) -> FieldPath:
        assert self.sobject is not None
        parts = token.text.split(".")
        if len(parts) > 1 and parts[0].lower() == self.sobject.name.lower():
            parts = parts[1:]  # SELECT Task.Subject FROM Task
        if len(parts) == 1:
            definition = self.sobject.get(parts[0])
            if definition is None:
                raise self.no_such_column(token, parts[0], self.sobject.name)
            return FieldPath(definition.name, None, definition.name, definition)
        if len(parts) > 2:
            raise SalesforceError(
                "INVALID_FIELD", f"The sandbox follows one parent relationship only: '{token.text}'", 400
            )
        relationship = self.sobject.relationship(parts[0])
        if relationship is None:
            raise SalesforceError(
                "INVALID_FIELD",
                f"\n{self.text}\nERROR at Row:1:Column:{token.column}\nDidn't understand relationship "
                f"'{parts[0]}' in field path. If you are attempting to use a custom relationship, be sure to "
                "append the '__r' after the custom relationship name. Please reference your WSDL or the "
                "describe "
                "call for the appropriate names.",
                400,
            )
        target: FieldDef | None = None
        for target_type in relationship.reference_to:
            target_object = self.schema.get(target_type)
            target = target_object.get(parts[1]) if target_object else None
            if target is not None:
                break
        if target is None:
            raise self.no_such_column(token, parts[1], relationship.reference_to[0])
        return FieldPath(f"{relationship.relationship_name}.{target.name}", relationship, target.name, target)

    def no_such_column(self, token: Token, name: str, entity: str) -> SalesforceError:
        return SalesforceError(
            "INVALID_FIELD",
            f"\n{self.text}\nERROR at Row:1:Column:{token.column}\n"
            f"No such column '{name}' on entity '{entity}'. "
            "If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
            "name. Please reference your WSDL or the describe call for the appropriate names.",
            400,
        )

    def field_that_can_be(self, use: str) -> FieldPath:
        """The next token as a field that can be ``use``d ("sorted", "filtered"): no text area can."""
        token = self.advance()
        if token.kind != "ident":
            raise self.fail(token)
        path = self.field_path(token)
        if path.definition.type == "textarea":
            raise SalesforceError(
                "INVALID_FIELD", f"field '{path.text}' can not be {use} in a query call", 400
            )
        return path

    def order_items(self) -> list[OrderItem]:
        items: list[OrderItem] = []
        while True:
            path = self.field_that_can_be("sorted")
            descending = False
            if self.at_keyword("ASC", "DESC"):
                descending = self.advance().upper == "DESC"
            nulls_last = descending
            if self.at_keyword("NULLS"):
                self.advance()
                if not self.at_keyword("FIRST", "LAST"):
                    raise self.fail()
                nulls_last = self.advance().upper == "LAST"
            items.append(OrderItem(path, descending, nulls_last))
            if self.at_punct(","):
                self.advance()
                continue
            return items

    def condition(self) -> Condition:
        return self.junction("OR", self.conjunction)

    def conjunction(self) -> Condition:
        return self.junction("AND", self.negation)

    def junction(self, keyword: str, operand: Callable[[], Condition]) -> Condition:
        """``operand`` (keyword ``operand``)*: one condition, or a :class:`Junction` of several."""
        parts = [operand()]
        while self.at_keyword(keyword):
            self.advance()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else Junction(keyword, tuple(parts))

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.advance()
            return Negation(self.negation())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        path = self.field_that_can_be("filtered")
        if self.at_keyword("NOT", "IN"):
            negated = self.advance().upper == "NOT"
            if negated:
                self.expect_keyword("IN")
            self.expect_punct("(")
            if self.at_keyword("SELECT"):
                raise malformed_query("Semi-join sub-queries are not supported by the Salesforce sandbox")
            literals = [self.literal(path)]
            while self.at_punct(","):
                self.advance()
                literals.append(self.literal(path))
            self.expect_punct(")")
            return Membership(path, tuple(literals), negated)
        if self.at_keyword("LIKE"):
            self.advance()
            pattern_token = self.advance()
            if pattern_token.kind != "string":
                raise self.fail(pattern_token)
            if path.definition.type not in STRING_TYPES:
                raise malformed_query(f"invalid operator on {path.definition.type} field: {path.text} LIKE")
            return Like(path, _like_regex(_unquote(pattern_token.text)))
        operator_token = self.advance()
        if operator_token.kind != "op":
            raise self.fail(operator_token)
        operator = "!=" if operator_token.text == "<>" else operator_token.text
        literal = self.literal(path)
        if literal.kind == "null" and operator not in ("=", "!="):
            raise malformed_query(f"invalid operator on null: {path.text} {operator} null")
        if literal.kind == "boolean" and operator not in ("=", "!="):
            raise malformed_query(f"invalid operator on boolean field: {path.text} {operator}")
        return Comparison(path, operator, literal)

    def literal(self, path: FieldPath) -> Literal:
        token = self.advance()
        field_type = path.definition.type
        if token.kind == "keyword" and token.upper == "NULL":
            return Literal("null", None)
        if token.kind == "keyword" and token.upper in ("TRUE", "FALSE"):
            if field_type != "boolean":
                raise self.type_error(path)
            return Literal("boolean", token.upper == "TRUE")
        if token.kind == "ident" and ":" not in token.text and token.upper in _DATE_LITERALS:
            raise malformed_query(f"Date literal {token.text} is not supported by the Salesforce sandbox")
        if token.kind == "string":
            if field_type not in STRING_TYPES and field_type not in ("id", "reference"):
                raise self.type_error(path)
            text = _unquote(token.text).replace("\\%", "%").replace("\\_", "_")
            if field_type in ("id", "reference"):
                parsed = parse_id(text)
                if parsed is None:
                    raise SalesforceError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", 400)
                return Literal("string", parsed)
            return Literal("string", text)
        if token.kind == "number":
            if field_type == "int" and "." not in token.text:
                return Literal("number", int(token.text))
            if field_type in NUMBER_TYPES or field_type == "int":
                return Literal("number", float(token.text))
            raise self.type_error(path)
        parse_temporal = _TEMPORAL_LITERALS.get(token.kind)
        if parse_temporal is not None:
            if field_type != token.kind:
                raise self.type_error(path)
            temporal = parse_temporal(token.text)
            if temporal is None:
                raise self.fail(token)
            return Literal(token.kind, temporal)
        raise self.fail(token)

    def type_error(self, path: FieldPath) -> SalesforceError:
        field_type = path.definition.type
        if field_type in STRING_TYPES or field_type in ("id", "reference"):
            wanted = "of type string and should be enclosed in quotes"
        elif field_type == "datetime":
            wanted = "of type dateTime and should not be enclosed in quotes"
        elif field_type == "date":
            wanted = "of type date and should not be enclosed in quotes"
        elif field_type == "boolean":
            wanted = "of type boolean and should not be enclosed in quotes"
        else:
            wanted = "of type double and should not be enclosed in quotes"
        return malformed_query(
            f"\n{self.text}\nvalue of filter criterion for field '{path.text}' must be {wanted}"
        )


# A date-time or date literal token, parsed (None: not a valid one); a field of that type takes it.
_TEMPORAL_LITERALS: dict[str, Callable[[str], dt.datetime | dt.date | None]] = {
    "datetime": parse_datetime,
    "date": parse_date,
}
_DATE_LITERALS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def parse(text: str, schema: Schema) -> Query:
    if not text or not text.strip():
        raise malformed_query("A query string must be provided")
    return _Parser(text.strip(), schema).parse()


# -- evaluation ------------------------------------------------------------------------------------


def _comparable(value: Value, field_type: str) -> Any:
    if isinstance(value, str) and field_type in STRING_TYPES:
        return value.lower()
    return value


class Evaluator:
    """Runs a parsed query over the store's rows."""

    def __init__(self, store: Store, version: str) -> None:
        self.store = store
        self.version = version

    def value(self, record: StoredRecord, path: FieldPath) -> Value:
        if path.relationship is None:
            return record.values.get(path.target_name)
        parent = self._parent(record, path.relationship)
        return parent.values.get(path.target_name) if parent else None

    def _parent(self, record: StoredRecord, relationship: FieldDef) -> StoredRecord | None:
        reference = record.values.get(relationship.name)
        return self.store.records.get(str(reference)) if reference else None

    def matches(self, record: StoredRecord, condition: Condition | None) -> bool:
        if condition is None:
            return True
        if isinstance(condition, Junction):
            results = (self.matches(record, part) for part in condition.parts)
            return all(results) if condition.operator == "AND" else any(results)
        if isinstance(condition, Negation):
            return not self.matches(record, condition.part)
        field_type = condition.path.definition.type
        actual = self.value(record, condition.path)
        if isinstance(condition, Like):
            return actual is not None and bool(condition.pattern.match(str(actual)))
        if isinstance(condition, Membership):
            wanted = {_comparable(literal.value, field_type) for literal in condition.literals}
            inside = _comparable(actual, field_type) in wanted
            return not inside if condition.negated else inside
        return _compare(
            _comparable(actual, field_type),
            condition.operator,
            _comparable(condition.literal.value, field_type),
        )

    def run(self, query: Query, *, include_deleted: bool) -> tuple[int, list[dict[str, Any]]]:
        """(totalSize, projected records) for the query."""
        rows = (
            self.store.all_rows(query.sobject.name)
            if include_deleted
            else self.store.live(query.sobject.name)
        )
        selected = [row for row in rows if self.matches(row, query.where)]
        for item in reversed(query.order_by):
            selected = self._sorted(selected, item)
        selected = selected[query.offset :]
        if query.limit is not None:
            selected = selected[: query.limit]
        if query.count_only:
            return len(selected), []
        return len(selected), [self.project(row, query.fields) for row in selected]

    def _sorted(self, rows: list[StoredRecord], item: OrderItem) -> list[StoredRecord]:
        field_type = item.path.definition.type
        present = [row for row in rows if self.value(row, item.path) is not None]
        absent = [row for row in rows if self.value(row, item.path) is None]
        key: Callable[[StoredRecord], Any] = lambda row: _comparable(self.value(row, item.path), field_type)  # noqa: E731
        present.sort(key=key, reverse=item.descending)
        return present + absent if item.nulls_last else absent + present

    def attributes(self, record: StoredRecord) -> dict[str, str]:
        return {
            "type": record.sobject,
            "url": f"/services/data/{self.version}/sobjects/{record.sobject}/{record.id}",
        }

    def project(self, record: StoredRecord, paths: list[FieldPath]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(record)}
        for path in paths:
            if path.relationship is None:
                out[path.target_name] = to_json(record.values.get(path.target_name))
                continue
            name = path.relationship.relationship_name or path.relationship.name
            parent = self._parent(record, path.relationship)
            if parent is None:
                out[name] = None
                continue
            nested = out.get(name)
            if not isinstance(nested, dict):
                nested = {"attributes": self.attributes(parent)}
                out[name] = nested
            nested[path.target_name] = to_json(parent.values.get(path.target_name))
        return out


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if operator == "=":
        return bool(actual == expected)
    if operator == "!=":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    if isinstance(actual, dt.datetime) != isinstance(expected, dt.datetime):
        return False
    try:
        if operator == "<":
            return bool(actual < expected)
        if operator == "<=":
            return bool(actual <= expected)
        if operator == ">":
            return bool(actual > expected)
        return bool(actual >= expected)
    except TypeError:
        return False
