"""QuickBooks' query language.

``SELECT * | COUNT(*) FROM E [WHERE a AND b] [ORDERBY f [DESC]] [STARTPOSITION n] [MAXRESULTS n]``

Strings compare without regard to case, ``LIKE`` knows only ``%``, there is no ``OR``, and name-list
entities answer only active records unless the WHERE clause says something about ``Active``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from emulator import errors, wire
from emulator.entities import SPECS, Company, EntitySpec, Record

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

DEFAULT_PAGE = 100
MAX_PAGE = 1000
SINGLETONS = ("CompanyInfo", "Preferences")
_ENTITY_NAMES = {name.casefold(): name for name in (*SPECS, *SINGLETONS)}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:\\.|[^'\\])*')
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = < > <= >= != IN LIKE
    values: tuple[Any, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    columns: tuple[str, ...] = ()  # empty: every property
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_PAGE


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise errors.query_parse(f'Encountered "{text[position : position + 10]}" at column {position + 1}')
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise errors.query_parse("Unexpected end of query")
        self.index += 1
        return token

    def expect_word(self, *words: str) -> Token:
        token = self.take()
        if not token.is_word(*words):
            raise errors.query_parse(f'Encountered "{token.text}", expected {" or ".join(words)}')
        return token

    def expect_punct(self, punct: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != punct:
            raise errors.query_parse(f'Encountered "{token.text}", expected "{punct}"')

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.lstrip("-").isdigit():
            raise errors.query_parse(f'Encountered "{token.text}", expected an integer')
        return int(token.text)

    def field_name(self) -> str:
        token = self.take()
        if token.kind != "word":
            raise errors.query_parse(f'Encountered "{token.text}", expected a property name')
        return token.text

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return Decimal(token.text)
        if token.is_word("TRUE"):
            return True
        if token.is_word("FALSE"):
            return False
        raise errors.query_parse(f'Encountered "{token.text}", expected a value')

    def parse(self) -> Query:
        self.expect_word("SELECT")
        count, columns = self.projection()
        self.expect_word("FROM")
        entity_token = self.take()
        entity = _ENTITY_NAMES.get(entity_token.text.casefold())
        if entity_token.kind != "word" or entity is None:
            raise errors.query_parse(f"Invalid context declaration : {entity_token.text}")
        query = Query(entity=entity, count=count, columns=columns)
        while (token := self.peek()) is not None:
            self.index += 1
            if token.is_word("WHERE") and not query.conditions:
                query.conditions.append(self.condition())
                while (following := self.peek()) is not None and following.is_word("AND"):
                    self.index += 1
                    query.conditions.append(self.condition())
                if (following := self.peek()) is not None and following.is_word("OR"):
                    raise errors.query_parse('Encountered " "OR" "OR "": OR is not supported')
            elif token.is_word("ORDERBY", "ORDER"):
                if token.is_word("ORDER"):
                    self.expect_word("BY")
                query.order = self.ordering()
            elif token.is_word("STARTPOSITION"):
                query.start = max(1, self.integer())
            elif token.is_word("MAXRESULTS"):
                requested = self.integer()
                if requested < 1:
                    raise errors.query_validation(f"MAXRESULTS must be at least 1, was {requested}")
                query.max_results = min(requested, MAX_PAGE)
            else:
                raise errors.query_parse(f'Encountered "{token.text}"')
        return query

    def projection(self) -> tuple[bool, tuple[str, ...]]:
        first = self.take()
        if first.is_word("COUNT"):
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            return True, ()
        if first.kind == "punct" and first.text == "*":
            while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
                self.index += 1
                self.field_name()  # extra columns after * (e.g. Sku) add nothing: everything is returned
            return False, ()
        if first.kind != "word" or first.is_word("FROM"):
            raise errors.query_parse(f'Encountered "{first.text}", expected * or COUNT(*) or properties')
        columns = [first.text]
        while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
            self.index += 1
            columns.append(self.field_name())
        return False, tuple(columns)

    def condition(self) -> Condition:
        name = self.field_name()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Condition(name, op, (self.literal(),))
        if token.is_word("LIKE"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                raise errors.query_parse("LIKE needs a string pattern")
            return Condition(name, "LIKE", (pattern,))
        if token.is_word("IN"):
            self.expect_punct("(")
            values = [self.literal()]
            while (following := self.take()).kind == "punct" and following.text == ",":
                values.append(self.literal())
            if following.text != ")":
                raise errors.query_parse(f'Encountered "{following.text}", expected ")"')
            return Condition(name, "IN", tuple(values))
        raise errors.query_parse(f'Encountered "{token.text}", expected an operator')

    def ordering(self) -> list[tuple[str, bool]]:
        order = [self.order_term()]
        while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
            self.index += 1
            order.append(self.order_term())
        return order

    def order_term(self) -> tuple[str, bool]:
        name = self.field_name()
        token = self.peek()
        if token is not None and token.is_word("ASC", "DESC"):
            self.index += 1
            return name, token.is_word("DESC")
        return name, False


def parse(text: str) -> Query:
    return _Parser(text).parse()


# --- evaluation ------------------------------------------------------------------------------------


def _field(record: Record, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        folded = part.casefold()
        value = next((v for k, v in value.items() if k.casefold() == folded), None)
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


@dataclass(frozen=True)
class _Literal:
    """A query value in every form a stored value may need, computed once per query."""

    raw: Any
    folded: str
    number: Decimal | None
    integer: int | None
    moment: datetime | None
    truth: bool | None

    @classmethod
    def of(cls, raw: Any) -> _Literal:
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        try:
            number: Decimal | None = Decimal(text)
        except InvalidOperation:
            number = None
        truth = raw if isinstance(raw, bool) else {"true": True, "false": False}.get(text.casefold())
        moment = wire.parse_datetime(text) if "T" in text else None
        return cls(raw, text.casefold(), number, int(text) if text.isdigit() else None, moment, truth)


def _pair(stored: Any, literal: _Literal) -> tuple[Any, Any] | None:
    """Both sides in one type, or None when they cannot be compared (the record does not match)."""
    if stored is None:
        return None
    if isinstance(stored, bool):
        return None if literal.truth is None else (stored, literal.truth)
    if isinstance(stored, int | Decimal):
        return None if literal.number is None else (stored, literal.number)
    text = str(stored)
    if literal.integer is not None and text.isdigit():
        return int(text), literal.integer
    if literal.moment is not None and ("T" in text or _looks_like_date(text)):
        moment = wire.parse_datetime(text)
        if moment is not None:
            return moment, literal.moment
    return text.casefold(), literal.folded


def _looks_like_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _compare(stored: Any, op: Callable[[Any, Any], bool], literal: _Literal) -> bool:
    pair = _pair(stored, literal)
    if pair is None:
        return False
    try:
        return bool(op(*pair))
    except TypeError:
        return False


def _matcher(condition: Condition) -> Callable[[Record], bool]:
    path = condition.field
    if condition.op == "LIKE":
        regex = ".*".join(re.escape(part) for part in str(condition.values[0]).split("%"))
        pattern = re.compile(regex, re.IGNORECASE | re.DOTALL)

        def like(record: Record) -> bool:
            stored = _field(record, path)
            return stored is not None and pattern.fullmatch(str(stored)) is not None

        return like
    literals = [_Literal.of(value) for value in condition.values]
    op = _COMPARISONS["=" if condition.op == "IN" else condition.op]

    def compare(record: Record) -> bool:
        stored = _field(record, path)
        return any(_compare(stored, op, literal) for literal in literals)

    return compare


def _candidates(company: Company, entity: str, conditions: list[Condition]) -> Iterable[Record]:
    """Equality on the name field is answered from the name index, as a database would."""
    spec = SPECS.get(entity)
    if spec is None:
        return _source(company, entity)
    for condition in conditions:
        if condition.op == "=" and spec.name_field and condition.field.casefold() == spec.name_field.casefold():
            holder = company.names.get(spec.name_scope or "", {}).get(str(condition.values[0]).strip().casefold())
            found = company.get(entity, holder[1]) if holder is not None and holder[0] == entity else None
            return [] if found is None else [found]
    return company.all(entity)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (3, "")
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | Decimal):
        return (0, Decimal(value))
    text = str(value)
    if text.isdigit():
        return (0, Decimal(text))
    if "T" in text and (moment := wire.parse_datetime(text)) is not None:
        return (1, moment.timestamp())
    return (2, text.casefold())


def _source(company: Company, entity: str) -> Iterable[Record]:
    if entity == "CompanyInfo":
        return [company.company_info]
    if entity == "Preferences":
        return [company.preferences]
    return company.all(entity)


ALWAYS_FILTERABLE = frozenset({"id", "metadata.createtime", "metadata.lastupdatedtime"})


def _check_filterable(spec: EntitySpec, fields: list[str]) -> None:
    allowed = ALWAYS_FILTERABLE | {name.casefold() for name in spec.filterable}
    for name in fields:
        if name.casefold() not in allowed:
            raise errors.query_validation(f"property '{name}' is not queryable for entity {spec.name}")


def run(company: Company, query: Query) -> dict[str, Any]:
    """The ``QueryResponse`` object for one query (without the envelope)."""
    conditions = list(query.conditions)
    spec = SPECS.get(query.entity)
    if spec is not None:
        _check_filterable(spec, [c.field for c in conditions] + [name for name, _ in query.order])
    if spec is not None and not spec.transaction and not any(c.field.casefold() == "active" for c in conditions):
        conditions.append(Condition("Active", "=", (True,)))
    matchers = [_matcher(c) for c in conditions]
    matched = [r for r in _candidates(company, query.entity, conditions) if all(m(r) for m in matchers)]
    if query.count:
        return {"totalCount": len(matched)}
    for name, descending in reversed(query.order):
        matched.sort(key=lambda record, path=name: _sort_key(_field(record, path)), reverse=descending)  # type: ignore[misc]
    page = matched[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {}
    if query.columns:
        page = [_project(record, query.columns) for record in page]
    return {query.entity: page, "startPosition": query.start, "maxResults": len(page)}


def _project(record: Record, columns: tuple[str, ...]) -> Record:
    wanted = {c.split(".")[0].casefold() for c in columns} | {"id", "synctoken"}
    projected = {k: v for k, v in record.items() if k.casefold() in wanted}
    projected.update(domain="QBO", sparse=True)
    return projected


MAX_CDC_OBJECTS = 1000


def changes(company: Company, entities: str, changed_since: str) -> list[dict[str, Any]]:
    """The ``QueryResponse`` list of a CDC answer: entities changed (or deleted) since ``changed_since``."""
    since = wire.parse_datetime(changed_since.replace(" ", "+"))
    if since is None:
        raise errors.query_validation(f"changedSince is not an ISO 8601 date-time: {changed_since}")
    names = [name.strip() for name in entities.split(",") if name.strip()]
    if not names:
        raise errors.required("entities")
    answers: list[dict[str, Any]] = []
    budget = MAX_CDC_OBJECTS
    for raw_name in names:
        entity = _ENTITY_NAMES.get(raw_name.casefold())
        if entity is None or entity not in SPECS:
            raise errors.query_validation(f"Unsupported entity for CDC: {raw_name}")
        found = [
            record
            for record in (*company.all(entity), *company.deleted[entity].values())
            if (moment := wire.parse_datetime(record["MetaData"]["LastUpdatedTime"])) is not None and moment >= since
        ][:budget]
        budget -= len(found)
        answers.append({entity: found, "startPosition": 1, "maxResults": len(found)} if found else {})
    return answers
