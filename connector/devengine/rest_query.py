"""REST v2 search machinery of the development engine: problem errors, value formats,
filter operators, sorting and offset/cursor paging (generic: endpoints declare fields)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Literal

from .auth import AuthConfig as AuthConfig
from .contract import (
    ContractViolation,
)
from .errors import EngineError

log = logging.getLogger(__name__)


# Camunda's secondary storage cuts variable values longer than this in search results (the
# full value stays available through GET /v2/variables/{key}).
DEFAULT_TRUNCATION_LIMIT = 8191
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 10_000
# Like Camunda on Elasticsearch/OpenSearch, totals are exact only up to this many matches;
# beyond it ``totalItems`` stays at the cap and ``hasMoreTotalItems`` is true. Counting 100,000s
# of matches for every page would cost more than the page itself.
DEFAULT_TOTAL_ITEMS_CAP = 10_000
# Upper bound of a request body; anything larger is refused before being read.
MAX_BODY_BYTES = 16 * 1024 * 1024

Json = Any
JsonObject = dict[str, Any]


# ---------------------------------------------------------------------------- errors


class ApiError(Exception):
    """An error answered as an RFC 9457 problem document."""

    def __init__(self, status: int, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _DEFAULT_TITLES.get(status) or HTTPStatus(status).phrase


# Camunda names a problem after the broker's rejection type where there is one.
_DEFAULT_TITLES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "INVALID_STATE"}


def violation_error(violation: ContractViolation) -> ApiError:
    """A request outside the version's contract, answered as Camunda does: a property the
    request reader cannot map is "Bad Request ... cannot be parsed"; a readable request
    that breaks a rule is INVALID_ARGUMENT."""
    if violation.parse:
        return ApiError(
            400, f"Request property [{violation.property}] cannot be parsed", title="Bad Request"
        )
    return ApiError(400, violation.detail, title="INVALID_ARGUMENT")


_ENGINE_STATUS = {
    "NOT_FOUND": 404,
    "INVALID_ARGUMENT": 400,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    # Camunda answers broker backpressure with 503 and the title RESOURCE_EXHAUSTED.
    "RESOURCE_EXHAUSTED": 503,
}


def api_error_from_engine(error: EngineError) -> ApiError:
    status = _ENGINE_STATUS.get(error.code, 500)
    return ApiError(status, error.message, title=error.code)


def problem_document(error: ApiError, instance: str) -> JsonObject:
    return {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
    }


# ---------------------------------------------------------------------------- value helpers


def format_date(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as an RFC 3339 UTC timestamp with milliseconds."""
    if epoch_ms is None:
        return None
    return _second_text(epoch_ms // 1000) + f"{epoch_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _second_text(epoch_s: int) -> str:
    # strftime dominates building a page of items; records made in the same second share it
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_date(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"'{where}' must be an RFC 3339 date-time, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def key_text(key: int | None) -> str | None:
    return None if key is None else str(key)


_KEY_PATTERN = re.compile(r"^-?[0-9]{1,25}$")


def parse_key(value: Json, where: str) -> int:
    """A key as the API accepts it: a string of digits (numbers tolerated)."""
    if isinstance(value, bool):
        raise ApiError(400, f"'{where}' must be a key (a string of digits), got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _KEY_PATTERN.match(value):
        return int(value)
    raise ApiError(400, f"'{where}' must be a key (a string of digits), got {value!r}")


# ---------------------------------------------------------------------------- search filters

FieldKind = Literal["string", "key", "int", "bool", "enum", "date"]

_OPERATORS: dict[FieldKind, frozenset[str]] = {
    "string": frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$like"}),
    "enum": frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$like"}),
    "key": frozenset({"$eq", "$neq", "$exists", "$in", "$notIn"}),
    "int": frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$gt", "$gte", "$lt", "$lte"}),
    "date": frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$gt", "$gte", "$lt", "$lte"}),
    "bool": frozenset({"$eq", "$neq", "$exists"}),
}

Predicate = Callable[[JsonObject], bool]


def _normalise(kind: FieldKind, value: Json, where: str) -> Json:
    """A filter operand checked against the field's type and put in comparable form."""
    if kind == "key":
        return parse_key(value, where)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"'{where}' must be an integer, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ApiError(400, f"'{where}' must be a boolean, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ApiError(400, f"'{where}' must be a string, got {value!r}")
    if kind == "date":
        return parse_date(value, where)
    return value


def _item_value(kind: FieldKind, value: Json) -> Json:
    """An item's JSON value in the same comparable form as ``_normalise`` gives operands."""
    if value is None:
        return None
    if kind == "key":
        return int(value)
    if kind == "date":
        return parse_date(value, "date")
    return value


def like_pattern(pattern: str) -> re.Pattern[str]:
    """Camunda's ``$like``: ``*`` any run, ``?`` one character, backslash escapes."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL)


def _operator_predicate(
    name: str, kind: FieldKind, operator: str, operand: Json, where: str
) -> Predicate:
    def value_of(item: JsonObject) -> Json:
        return _item_value(kind, item.get(name))

    if operator == "$exists":
        if not isinstance(operand, bool):
            raise ApiError(400, f"'{where}' must be a boolean, got {operand!r}")
        return lambda item: (item.get(name) is not None) == operand
    if operator in ("$in", "$notIn"):
        if not isinstance(operand, list):
            raise ApiError(400, f"'{where}' must be an array, got {operand!r}")
        members = [_normalise(kind, member, f"{where}[{i}]") for i, member in enumerate(operand)]
        if operator == "$in":
            return lambda item: value_of(item) in members
        return lambda item: value_of(item) not in members
    if operator == "$like":
        if not isinstance(operand, str):
            raise ApiError(400, f"'{where}' must be a string, got {operand!r}")
        regex = like_pattern(operand)
        return lambda item: isinstance(item.get(name), str) and bool(regex.fullmatch(item[name]))
    expected = _normalise(kind, operand, where)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "$eq": lambda a, b: a == b,
        "$neq": lambda a, b: a != b,
        "$gt": lambda a, b: a is not None and a > b,
        "$gte": lambda a, b: a is not None and a >= b,
        "$lt": lambda a, b: a is not None and a < b,
        "$lte": lambda a, b: a is not None and a <= b,
    }
    check = compare[operator]
    return lambda item: check(value_of(item), expected)


def compile_filter(
    raw: Json, fields: Mapping[str, FieldKind]
) -> tuple[list[Predicate], JsonObject]:
    """Validate a search ``filter`` and turn it into predicates over JSON items.

    Returns the predicates (all must hold) and, by field name, the operands the endpoint may
    push down to the engine's indexes: a plain value for an equality, a list for ``$in`` (an
    equality wins when a field has both). Every item that matches lies within those.
    """
    if raw is None:
        return [], {}
    if not isinstance(raw, dict):
        raise ApiError(400, f"'filter' must be an object, got {type(raw).__name__}")
    predicates: list[Predicate] = []
    pushable: JsonObject = {}
    for name, condition in raw.items():
        where = f"filter.{name}"
        kind = fields.get(name)
        if kind is None:
            allowed = ", ".join(sorted(fields))
            raise ApiError(400, f"Unknown filter field '{name}'; supported: {allowed}")
        if isinstance(condition, dict):
            if not condition:
                raise ApiError(400, f"'{where}' must name at least one operator")
            for operator, operand in condition.items():
                if operator not in _OPERATORS[kind]:
                    allowed = ", ".join(sorted(_OPERATORS[kind]))
                    raise ApiError(
                        400, f"Unsupported operator '{operator}' in '{where}'; supported: {allowed}"
                    )
                predicates.append(
                    _operator_predicate(name, kind, operator, operand, f"{where}.{operator}")
                )
            if "$eq" in condition:
                pushable[name] = _normalise(kind, condition["$eq"], f"{where}.$eq")
            elif "$in" in condition:
                members = condition["$in"]  # checked to be a list by its predicate
                pushable[name] = [
                    _normalise(kind, member, f"{where}.$in[{i}]")
                    for i, member in enumerate(members)
                ]
        else:
            predicates.append(_operator_predicate(name, kind, "$eq", condition, where))
            pushable[name] = _normalise(kind, condition, where)
    return predicates, pushable


# ---------------------------------------------------------------------------- sort and page


@dataclass(frozen=True)
class SortSpec:
    fields: tuple[tuple[str, bool], ...]  # (field, descending)


def parse_sort(raw: Json, allowed: Mapping[str, FieldKind], key_field: str) -> SortSpec:
    if raw is None:
        return SortSpec(((key_field, False),))
    if not isinstance(raw, list):
        raise ApiError(400, f"'sort' must be an array, got {type(raw).__name__}")
    fields: list[tuple[str, bool]] = []
    for index, entry in enumerate(raw):
        where = f"sort[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("field"), str):
            raise ApiError(400, f"'{where}.field' is required and must be a string")
        name = entry["field"]
        if name not in allowed:
            supported = ", ".join(sorted(allowed))
            raise ApiError(400, f"'{where}.field' {name!r} is not sortable; supported: {supported}")
        order = entry.get("order", "ASC")
        if not isinstance(order, str) or order.upper() not in ("ASC", "DESC"):
            raise ApiError(400, f"'{where}.order' must be ASC or DESC, got {order!r}")
        fields.append((name, order.upper() == "DESC"))
    if all(name != key_field for name, _ in fields):
        # The unique key breaks ties so that cursors point at exactly one position.
        fields.append((key_field, False))
    return SortSpec(tuple(fields))


def _sortable(kind: FieldKind, value: Json) -> Json:
    """A JSON-serialisable value that orders correctly (keys numerically, not as text)."""
    if value is None:
        return None
    if kind == "key":
        return int(value)
    return value


def _compare(left: Sequence[Json], right: Sequence[Json], sort: SortSpec) -> int:
    for (_, descending), a, b in zip(sort.fields, left, right, strict=False):
        if a == b:
            continue
        if a is None or b is None:
            result = -1 if a is None else 1  # nulls first in ascending order
        elif type(a) is not type(b):
            result = -1 if type(a).__name__ < type(b).__name__ else 1
        else:
            result = -1 if a < b else 1
        return -result if descending else result
    return 0


def encode_cursor(values: Sequence[Json]) -> str:
    # Standard base64 (``+/``, padded), the alphabet Camunda's cursors use and its clients check.
    return base64.b64encode(json.dumps(list(values), separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: Json, where: str, width: int) -> list[Json]:
    if not isinstance(cursor, str):
        raise ApiError(400, f"'{where}' must be a cursor string, got {cursor!r}")
    try:
        values = json.loads(base64.b64decode(cursor.encode(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(400, f"'{where}' is not a cursor this server issued") from None
    if not isinstance(values, list) or len(values) != width:
        raise ApiError(400, f"'{where}' does not match the requested sort order")
    return values


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int = 0
    after: list[Json] | None = None
    before: list[Json] | None = None


def parse_page(raw: Json, width: int) -> PageRequest:
    if raw is None:
        return PageRequest(DEFAULT_PAGE_LIMIT)
    if not isinstance(raw, dict):
        raise ApiError(400, f"'page' must be an object, got {type(raw).__name__}")
    unknown = set(raw) - {"limit", "from", "after", "before"}
    if unknown:
        raise ApiError(400, f"Unknown page field 'page.{sorted(unknown)[0]}'")
    modes = [name for name in ("from", "after", "before") if raw.get(name) is not None]
    if len(modes) > 1:
        raise ApiError(400, f"'page' accepts only one of from, after, before; got {modes}")
    limit = raw.get("limit", DEFAULT_PAGE_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ApiError(400, f"'page.limit' must be an integer 1..{MAX_PAGE_LIMIT}, got {limit!r}")
    offset = raw.get("from", 0) or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ApiError(400, f"'page.from' must be an integer >= 0, got {offset!r}")
    after = raw.get("after")
    before = raw.get("before")
    return PageRequest(
        limit=limit,
        offset=offset,
        after=None if after is None else decode_cursor(after, "page.after", width),
        before=None if before is None else decode_cursor(before, "page.before", width),
    )


def page_info(total: int, cap: int, start: list[Json] | None, end: list[Json] | None) -> JsonObject:
    """The ``page`` block of a search response; ``total`` may be anything above ``cap``."""
    return {
        "totalItems": min(total, cap),
        "hasMoreTotalItems": total > cap,
        "startCursor": None if start is None else encode_cursor(start),
        "endCursor": None if end is None else encode_cursor(end),
    }


def paginate(
    items: list[JsonObject],
    sort: SortSpec,
    kinds: Mapping[str, FieldKind],
    page: PageRequest,
    total_cap: int = DEFAULT_TOTAL_ITEMS_CAP,
) -> JsonObject:
    """Sort, slice and describe one page; returns the response body ``{items, page}``."""

    def values_of(item: JsonObject) -> list[Json]:
        return [_sortable(kinds[name], item.get(name)) for name, _ in sort.fields]

    def by_values(a: tuple[list[Json], JsonObject], b: tuple[list[Json], JsonObject]) -> int:
        return _compare(a[0], b[0], sort)

    keyed = [(values_of(item), item) for item in items]
    keyed.sort(key=functools.cmp_to_key(by_values))
    if page.after is not None:
        cursor = page.after
        chosen = [entry for entry in keyed if _compare(entry[0], cursor, sort) > 0][: page.limit]
    elif page.before is not None:
        cursor = page.before
        chosen = [entry for entry in keyed if _compare(entry[0], cursor, sort) < 0]
        chosen = chosen[-page.limit :]
    else:
        chosen = keyed[page.offset : page.offset + page.limit]
    return {
        "items": [item for _, item in chosen],
        "page": page_info(
            len(items),
            total_cap,
            chosen[0][0] if chosen else None,
            chosen[-1][0] if chosen else None,
        ),
    }
