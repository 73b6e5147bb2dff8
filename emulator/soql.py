"""A small SOQL engine: the subset the providers and tests use, evaluated over stored records.

Supported: SELECT field list (with parent relationship fields such as `Profile.Name`, and COUNT()),
FROM one sObject, WHERE with =, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN, AND, OR, NOT and parentheses,
ORDER BY (ASC|DESC, NULLS FIRST|LAST), LIMIT and OFFSET. Keywords and names are case-insensitive.
Errors raise `SoqlError` with Salesforce's error code and message style.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .schema import SObjectType, canonical_field, canonical_relationship, sobject_type
from .store import OrgStore, id15


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
class Query:
    sobject: SObjectType
    fields: list[str]  # canonical names, "Rel.Field" for relationship fields
    count_only: bool = False
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
        self.expect_word("SELECT")
        raw_fields, count_only = self.field_list()
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
        self.stype = stype
        query = Query(stype, [self.resolve(stype, f) for f in raw_fields], count_only)
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
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.take()[1]}'")
        return query

    def field_list(self) -> tuple[list[str], bool]:
        if self.peek_word() == "COUNT":
            self.take()
            self.expect("(")
            self.expect(")")
            return [], True
        names = [self.take()[1]]
        while self.peek() == ("punct", ","):
            self.take()
            names.append(self.take()[1])
        return names, False

    def resolve(self, stype: SObjectType, name: str) -> str:
        """Canonical field name, or raise INVALID_FIELD like Salesforce."""
        if "." in name:
            rel, _, sub = name.partition(".")
            canon_rel = canonical_relationship(stype, rel)
            if canon_rel is not None:
                target = stype.relationships[canon_rel][1]
                target_type = sobject_type(target) if target else None
                sub_canon = canonical_field(target_type, sub) if target_type else sub
                if sub_canon is not None:
                    return f"{canon_rel}.{sub_canon}"
            self.no_such_column(stype, name)
        canon = canonical_field(stype, name)
        if canon is None:
            self.no_such_column(stype, name)
        return str(canon)

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
    """A field's value; `Rel.Field` follows the relationship's Id field to the parent record."""
    if "." not in fname:
        return record.get(fname)
    parent = parent_record(org, record, fname.split(".", 1)[0], stype)
    return None if parent is None else parent.get(fname.split(".", 1)[1])


def parent_record(org: OrgStore, record: dict, rel: str, stype: SObjectType | None = None) -> dict | None:
    id_field = rel + "Id"
    if stype is not None and rel in stype.relationships:
        id_field = stype.relationships[rel][0]
    parent_id = record.get(id_field)
    if not parent_id:
        return None
    target = org.sobject_of(str(parent_id))
    return None if target is None else org.get_record(target, str(parent_id))


def _norm(value: Any) -> Any:
    # Ids compare on their first 15 characters (SOQL accepts either form); strings case-insensitively.
    if isinstance(value, str):
        if len(value) == 18 and value.isalnum():
            return id15(value).lower()
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


def execute(text: str, org: OrgStore, api_version: str = "63.0") -> dict:
    """Run a query and answer with the REST `query` response shape."""
    query = parse(text, org)
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
    if query.count_only:
        return {"totalSize": len(rows), "done": True, "records": []}
    records = [shape_record(org, stype, r, query.fields, api_version) for r in rows]
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
        if "." not in fname:
            out[fname] = record.get(fname)
            continue
        rel, _, sub = fname.partition(".")
        parent = parent_record(org, record, rel, stype)
        if parent is None:
            out[rel] = None
            continue
        nested = out.get(rel)
        if not isinstance(nested, dict):
            ptype = org.sobject_of(str(parent["Id"])) or rel
            nested = {"attributes": attributes(ptype, str(parent["Id"]), api_version)}
            out[rel] = nested
        nested[sub] = parent.get(sub)
    return out
