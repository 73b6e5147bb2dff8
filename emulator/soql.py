"""A small SOQL engine: what the providers, the tests and the Salesforce CLI send, over stored records.

Supported: SELECT field list (with parent relationship paths of any depth such as
`Parent.Profile.Name`), `COUNT()`, or `COUNT(field) [alias]`; FROM one sObject; WHERE with =, !=, <>,
<, <=, >, >=, LIKE, IN, NOT IN (values or a semi-join `IN (SELECT field FROM ...)`), AND, OR, NOT and
parentheses; ORDER BY (ASC|DESC, NULLS FIRST|LAST); LIMIT and OFFSET. Keywords and names are
case-insensitive. Errors raise `SoqlError` with Salesforce's error code and message style.
`columns(...)` answers the `columns=true` variant of /query: the column metadata of a query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import SObjectType, canonical_field, canonical_relationship, field_type, sobject_type
from .store import KEY_PREFIXES, OrgStore, id15


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|<>|<=|>=|=|<|>)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].split()[0]}'")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


@dataclass
class Aggregate:
    """`COUNT(field) [alias]`: one row of type AggregateResult."""

    function: str  # as written, e.g. "COUNT"
    field: str  # canonical path
    alias: str  # the alias, or Salesforce's expr0


@dataclass
class Query:
    sobject: SObjectType
    fields: list[str]  # canonical paths: "Name", "Profile.Name", "Parent.Profile.Name"
    count_only: bool = False
    aggregate: Aggregate | None = None
    where: Callable[[dict], bool] | None = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, desc, nulls_last)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, text: str, org: OrgStore) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.org = org
        self.stype: SObjectType | None = None

    # -- token helpers ---------------------------------------------------------------------------
    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def peek_word(self) -> str:
        tok = self.peek()
        return tok[1].upper() if tok and tok[0] == "word" else ""

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.pos += 1
        return tok

    def expect_word(self, word: str) -> None:
        kind, value = self.take()
        if kind != "word" or value.upper() != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")

    def expect(self, punct: str) -> None:
        kind, value = self.take()
        if value != punct:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> Query:
        query = self.select_statement()
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.take()[1]}'")
        return query

    def select_statement(self) -> Query:
        self.expect_word("SELECT")
        raw_fields, count_only, raw_aggregate = self.field_list()
        self.expect_word("FROM")
        kind, name = self.take()
        stype = sobject_type(name) if kind == "word" else None
        if stype is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"\n{self.text}\n^\nERROR at Row:1:Column:1\nsObject type '{name}' is not supported. "
                "If you are attempting to use a custom object, be sure to append the '__c' "
                "after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        outer = self.stype
        self.stype = stype
        query = Query(stype, [self.resolve(stype, f) for f in raw_fields], count_only)
        if raw_aggregate is not None:
            function, raw_field, alias = raw_aggregate
            query.aggregate = Aggregate(function, self.resolve(stype, raw_field), alias)
        self.clauses(query)
        self.stype = outer
        return query

    def clauses(self, query: Query) -> None:
        stype = query.sobject
        if self.peek_word() == "WHERE":
            self.take()
            query.where = self.or_expr(stype)
        if self.peek_word() == "ORDER":
            self.take()
            self.expect_word("BY")
            query.order = self.order_list(stype)
        if self.peek_word() == "LIMIT":
            self.take()
            query.limit = int(self.take()[1])
        if self.peek_word() == "OFFSET":
            self.take()
            query.offset = int(self.take()[1])

    def field_list(self) -> tuple[list[str], bool, tuple[str, str, str] | None]:
        """(plain fields, COUNT() alone, (function, field, alias) of an aggregate)."""
        if self.peek_word() == "COUNT" and self.tokens[self.pos + 1 : self.pos + 3] == [
            ("punct", "("),
            ("punct", ")"),
        ]:
            self.pos += 3
            return [], True, None
        names: list[str] = []
        aggregate: tuple[str, str, str] | None = None
        while True:
            if self.peek_word() == "COUNT" and self.tokens[self.pos + 1 : self.pos + 2] == [("punct", "(")]:
                function = self.take()[1]
                self.expect("(")
                inner = self.take()[1]
                self.expect(")")
                alias = "expr0"
                if self.peek() and self.peek_word() not in ("FROM", "") and self.peek() != ("punct", ","):
                    alias = self.take()[1]
                aggregate = (function, inner, alias)
            else:
                names.append(self.take()[1])
            if self.peek() != ("punct", ","):
                break
            self.take()
        if aggregate is not None and names:
            # Without GROUP BY (not served here), plain fields cannot stand beside an aggregate.
            raise SoqlError("MALFORMED_QUERY", f"Field must be grouped or aggregated: {names[0]}")
        return names, False, aggregate

    def resolve(self, stype: SObjectType, name: str) -> str:
        """Canonical path of a field or relationship path, or raise INVALID_FIELD like Salesforce."""
        *rels, last = name.split(".")
        current: SObjectType | None = stype
        canonical: list[str] = []
        for rel in rels:
            if current is None:
                # A polymorphic relationship: the Id decides the type, so the rest is taken as written.
                canonical.append(rel)
                continue
            canon_rel = canonical_relationship(current, rel)
            if canon_rel is None:
                self.no_such_column(stype, name)
            canonical.append(str(canon_rel))
            target = current.relationships[str(canon_rel)][1]
            current = sobject_type(target) if target else None
        canon = canonical_field(current, last) if current is not None else last
        if canon is None:
            self.no_such_column(stype, name)
        return ".".join([*canonical, str(canon)])

    def no_such_column(self, stype: SObjectType, name: str) -> None:
        raise SoqlError(
            "INVALID_FIELD",
            f"\n{self.text}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity "
            f"'{stype.name}'. If you are attempting to use a custom field, be sure to append the '__c' "
            "after the custom field name. "
            "Please reference your WSDL or the describe call for the appropriate names.",
        )

    def or_expr(self, stype: SObjectType) -> Callable[[dict], bool]:
        parts = [self.and_expr(stype)]
        while self.peek_word() == "OR":
            self.take()
            parts.append(self.and_expr(stype))
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self, stype: SObjectType) -> Callable[[dict], bool]:
        parts = [self.not_expr(stype)]
        while self.peek_word() == "AND":
            self.take()
            parts.append(self.not_expr(stype))
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def not_expr(self, stype: SObjectType) -> Callable[[dict], bool]:
        if self.peek_word() == "NOT":
            self.take()
            inner = self.not_expr(stype)
            return lambda r: not inner(r)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.or_expr(stype)
            self.expect(")")
            return inner
        return self.comparison(stype)

    def comparison(self, stype: SObjectType) -> Callable[[dict], bool]:
        fname = self.resolve(stype, self.take()[1])
        word = self.peek_word()
        if word in ("IN", "NOT"):
            self.take()
            negate = word == "NOT"
            if negate:
                self.expect_word("IN")
            if self.subquery_follows():
                return self.semi_join(fname, negate)
            values = self.value_list()
            return lambda r: (_in(self.value(r, fname), values)) != negate
        if word == "LIKE":
            self.take()
            pattern = _like_regex(str(self.literal()))
            return lambda r: (v := self.value(r, fname)) is not None and bool(pattern.fullmatch(str(v)))
        kind, op = self.take()
        if kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
        literal = self.literal()
        return lambda r: _compare(self.value(r, fname), op, literal)

    def subquery_follows(self) -> bool:
        after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else ("", "")
        return self.peek() == ("punct", "(") and after[0] == "word" and after[1].upper() == "SELECT"

    def semi_join(self, fname: str, negate: bool) -> Callable[[dict], bool]:
        """`field IN (SELECT one_field FROM ...)`: evaluated once, on first use."""
        self.expect("(")
        inner = self.select_statement()
        self.expect(")")
        if inner.count_only or inner.aggregate is not None or len(inner.fields) != 1:
            raise SoqlError("MALFORMED_QUERY", "semi join sub-selects must select exactly one field")
        values: list[Any] = []
        computed = False

        def matches(record: dict) -> bool:
            nonlocal values, computed
            if not computed:
                rows = matching_rows(self.org, inner)
                values = [field_value(self.org, row, inner.fields[0], inner.sobject) for row in rows]
                computed = True
            return _in(self.value(record, fname), values) != negate

        return matches

    def value_list(self) -> list[Any]:
        self.expect("(")
        values = [self.literal()]
        while self.peek() == ("punct", ","):
            self.take()
            values.append(self.literal())
        self.expect(")")
        return values

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "word" and value.lower() == "null":
            return None
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")

    def order_list(self, stype: SObjectType) -> list[tuple[str, bool, bool]]:
        order: list[tuple[str, bool, bool]] = []
        while True:
            fname = self.resolve(stype, self.take()[1])
            desc = False
            if self.peek_word() in ("ASC", "DESC"):
                desc = self.take()[1].upper() == "DESC"
            nulls_last = desc  # Salesforce sorts nulls first ascending, last descending
            if self.peek_word() == "NULLS":
                self.take()
                nulls_last = self.take()[1].upper() == "LAST"
            order.append((fname, desc, nulls_last))
            if self.peek() != ("punct", ","):
                return order
            self.take()

    # -- evaluation ------------------------------------------------------------------------------
    def value(self, record: dict, fname: str) -> Any:
        return field_value(self.org, record, fname, self.stype)


def field_value(org: OrgStore, record: dict, fname: str, stype: SObjectType | None = None) -> Any:
    """A field's value; each `Rel.` of a path follows that relationship's Id field to the parent."""
    *rels, last = fname.split(".")
    current = record
    current_type = stype
    for rel in rels:
        parent = parent_record(org, current, rel, current_type)
        if parent is None:
            return None
        current, current_type = parent, sobject_type(org.sobject_of(str(parent["Id"])) or "")
    return current.get(last)


def parent_record(org: OrgStore, record: dict, rel: str, stype: SObjectType | None = None) -> dict | None:
    id_field = rel + "Id"
    if stype is not None and rel in stype.relationships:
        id_field = stype.relationships[rel][0]
    parent_id = record.get(id_field)
    if not parent_id:
        return None
    target = org.sobject_of(str(parent_id))
    return None if target is None else org.get_record(target, str(parent_id))


_ID_PREFIXES = frozenset(KEY_PREFIXES.values())


def _is_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum() and value[:3] in _ID_PREFIXES


def _norm(value: Any) -> Any:
    # Ids compare on their first 15 characters (SOQL accepts either form), and those are
    # case-sensitive: 0Pa...0b and 0Pa...0B are two records. Other strings compare case-insensitively.
    if isinstance(value, str):
        if _is_id(value):
            return id15(value)
        return value.lower()
    return value


def _in(value: Any, values: list[Any]) -> bool:
    return _norm(value) in [_norm(v) for v in values]


def _compare(value: Any, op: str, literal: Any) -> bool:
    a, b = _norm(value), _norm(literal)
    if op == "=":
        return bool(a == b)
    if op in ("!=", "<>"):
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    except TypeError:
        return False


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(out, re.IGNORECASE | re.DOTALL)


def parse(text: str, org: OrgStore) -> Query:
    return _Parser(text, org).parse()


def matching_rows(org: OrgStore, query: Query) -> list[dict]:
    """The records a query selects, filtered, ordered, offset and limited."""
    stype = query.sobject
    rows = org.records(stype.name)
    if query.where is not None:
        cond = query.where
        rows = [r for r in rows if cond(r)]
    for fname, desc, nulls_last in reversed(query.order):
        # Stable sorts applied from the last key to the first give the multi-key order.
        rows.sort(key=_sorter(org, fname, desc, nulls_last, stype), reverse=desc)
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    return rows


def execute(text: str, org: OrgStore, api_version: str = "63.0") -> dict:
    """Run a query and answer with the REST `query` response shape."""
    query = parse(text, org)
    rows = matching_rows(org, query)
    if query.count_only:
        return {"totalSize": len(rows), "done": True, "records": []}
    if query.aggregate is not None:
        aggregate = query.aggregate
        count = sum(1 for r in rows if field_value(org, r, aggregate.field, query.sobject) is not None)
        record = {"attributes": {"type": "AggregateResult"}, aggregate.alias: count}
        return {"totalSize": 1, "done": True, "records": [record]}
    records = [shape_record(org, query.sobject, r, query.fields, api_version) for r in rows]
    return {"totalSize": len(records), "done": True, "records": records}


def _sorter(
    org: OrgStore, fname: str, desc: bool, nulls_last: bool, stype: SObjectType
) -> Callable[[dict], tuple[int, Any]]:
    return lambda record: _sort_key(org, record, fname, desc, nulls_last, stype)


def _sort_key(
    org: OrgStore, record: dict, fname: str, desc: bool, nulls_last: bool, stype: SObjectType
) -> tuple[int, Any]:
    value = field_value(org, record, fname, stype)
    if value is None:
        # With reverse=True the tuple order flips, so the null rank flips with it.
        return (1 if nulls_last != desc else -1, "")
    return (0, _norm(value) if isinstance(value, str) else value)


def attributes(stype_name: str, record_id: str, api_version: str) -> dict:
    return {"type": stype_name, "url": f"/services/data/v{api_version}/sobjects/{stype_name}/{record_id}"}


def shape_record(
    org: OrgStore, stype: SObjectType, record: dict, fields: list[str], api_version: str
) -> dict:
    """One record as REST answers it: attributes first, then the selected fields in query order."""
    out: dict[str, Any] = {"attributes": attributes(stype.name, str(record["Id"]), api_version)}
    for fname in fields:
        _place(org, out, record, stype, fname.split("."), api_version)
    return out


def _place(
    org: OrgStore, out: dict, record: dict, stype: SObjectType | None, path: list[str], api_version: str
) -> None:
    """Put one path's value into `out`, nesting each parent as REST does (null when it is absent)."""
    head, *rest = path
    if not rest:
        out[head] = record.get(head)
        return
    if head in out and out[head] is None:
        return
    parent = parent_record(org, record, head, stype)
    if parent is None:
        out[head] = None
        return
    ptype = org.sobject_of(str(parent["Id"])) or head
    nested = out.get(head)
    if not isinstance(nested, dict):
        nested = {"attributes": attributes(ptype, str(parent["Id"]), api_version)}
        out[head] = nested
    _place(org, nested, parent, sobject_type(ptype), rest, api_version)


# -- the columns=true variant of /query -----------------------------------------------------------
_APEX_TYPES = {
    "id": "Id",
    "reference": "Id",
    "boolean": "Boolean",
    "datetime": "Datetime",
    "date": "Date",
    "int": "Integer",
    "double": "Double",
}


def columns(text: str, org: OrgStore) -> dict:
    """What /query?columns=true answers: the query's columns, never its rows."""
    query = parse(text, org)
    stype = query.sobject
    metadata: list[dict[str, Any]] = []
    if query.aggregate is not None:
        aggregate = query.aggregate
        metadata.append(
            _column(
                aggregate.alias,
                # Salesforce names an aggregate column by its function in lower case: count(Id).
                f"{aggregate.function.lower()}({aggregate.field})",
                "Integer",
                aggregate=True,
                number=True,
            )
        )
    for fname in query.fields:
        _add_column(metadata, stype, fname.split("."))
    return {
        "columnMetadata": metadata,
        "entityName": stype.name,
        "groupBy": False,
        "idSelected": "Id" in query.fields,
        "keyPrefix": KEY_PREFIXES.get(stype.name),
    }


def _column(
    name: str,
    display: str,
    apex_type: str | None,
    aggregate: bool = False,
    number: bool = False,
    foreign_key: str | None = None,
    writable: bool = False,
) -> dict[str, Any]:
    return {
        "aggregate": aggregate,
        "apexType": apex_type,
        "booleanType": apex_type == "Boolean",
        "columnName": name,
        "custom": name.endswith("__c"),
        "displayName": display,
        "foreignKeyName": foreign_key,
        "insertable": writable,
        "joinColumns": [],
        "numberType": number or apex_type in ("Integer", "Double"),
        "textType": apex_type == "String",
        "updatable": writable,
    }


def _add_column(metadata: list[dict[str, Any]], stype: SObjectType | None, path: list[str]) -> None:
    """One selected path as a column; a relationship becomes a column with join columns, shared by
    every path through the same relationship."""
    head, *rest = path
    if not rest:
        kind = field_type(stype, head) if stype is not None else "string"
        writable = stype is not None and stype.createable and kind == "reference"
        metadata.append(_column(head, head, _APEX_TYPES.get(kind, "String"), writable=writable))
        return
    join = next((c for c in metadata if c["columnName"] == head and c["foreignKeyName"] is not None), None)
    if join is None:
        known = stype is not None and head in stype.relationships
        id_field = stype.relationships[head][0] if stype is not None and known else head + "Id"
        join = _column(head, head, None, foreign_key=id_field)
        metadata.append(join)
    target = stype.relationships.get(head, ("", None))[1] if stype is not None else None
    _add_column(join["joinColumns"], sobject_type(target) if target else None, rest)
