"""Orchestration Cluster REST API v2 (Camunda 8.8 shapes) served over the development engine.

A small stdlib HTTP server (one thread per connection) in front of ``Engine``. It follows the
8.8 conventions: JSON bodies with camelCase fields, keys as strings, RFC 3339 dates, searches
``{filter, sort, page}`` answered with ``{items, page: {totalItems, hasMoreTotalItems,
startCursor, endCursor}}``, and RFC 9457 problem documents for errors.

The search machinery (filter operators, sorting, offset and cursor paging) is generic; each
endpoint only declares its fields, how the engine pre-filters on indexed fields, and how one
record turns into a JSON item.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import dataclasses
import functools
import io
import json
import logging
import re
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from .auth import AuthConfig as AuthConfig
from .contract import (
    DEFAULT_VERSION,
    ROOT_KEY,
    VERSION_TRAITS,
    VERSIONS,
    ContractViolation,
    VersionTraits,
    acceptable,
    check_search,
    contract_for,
)
from .engine import Engine
from .errors import EngineError
from .multipart import MultipartError, parse_form_data
from .records import (
    DEFAULT_TENANT,
    ElementInstanceRecord,
    IncidentRecord,
    MessageSubscriptionRecord,
    ProcessDefinitionRecord,
    ProcessInstanceRecord,
    VariableRecord,
)
from .tls import TlsServerMixin

__all__ = [
    "DEFAULT_TOTAL_ITEMS_CAP",
    "DEFAULT_TRUNCATION_LIMIT",
    "ApiError",
    "AuthConfig",
    "RestApi",
    "RestServer",
]

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


# ---------------------------------------------------------------------------- JSON items


def process_definition_item(record: ProcessDefinitionRecord) -> JsonObject:
    return {
        "name": record.name,
        "resourceName": record.resource_name,
        "version": record.version,
        "versionTag": record.version_tag,
        "processDefinitionId": record.bpmn_process_id,
        "tenantId": record.tenant_id,
        "processDefinitionKey": str(record.key),
        "hasStartForm": False,
    }


def process_instance_item(record: ProcessInstanceRecord) -> JsonObject:
    return {
        "processDefinitionId": record.bpmn_process_id,
        "processDefinitionName": record.process_definition_name or record.bpmn_process_id,
        "processDefinitionVersion": record.version,
        "processDefinitionVersionTag": record.version_tag,
        "startDate": format_date(record.start_ms),
        "endDate": format_date(record.end_ms),
        "state": record.state,
        "hasIncident": record.has_incident,
        "tenantId": record.tenant_id,
        "processInstanceKey": str(record.key),
        "processDefinitionKey": str(record.process_definition_key),
        "parentProcessInstanceKey": key_text(record.parent_process_instance_key),
        "parentElementInstanceKey": key_text(record.parent_element_instance_key),
    }


def element_instance_item(record: ElementInstanceRecord) -> JsonObject:
    return {
        "processDefinitionId": record.bpmn_process_id,
        "startDate": format_date(record.start_ms),
        "endDate": format_date(record.end_ms),
        "elementId": record.element_id,
        # Camunda falls back to the id for unnamed elements; the field is required.
        "elementName": record.element_name or record.element_id,
        "type": record.type,
        "state": record.state,
        "hasIncident": record.has_incident,
        "tenantId": record.tenant_id,
        "elementInstanceKey": str(record.key),
        "processInstanceKey": str(record.process_instance_key),
        "processDefinitionKey": str(record.process_definition_key),
        "incidentKey": key_text(record.incident_key),
    }


def message_subscription_item(record: MessageSubscriptionRecord) -> JsonObject:
    return {
        "messageSubscriptionKey": str(record.key),
        "processDefinitionId": record.process_definition_id,
        "processDefinitionKey": str(record.process_definition_key),
        "processInstanceKey": str(record.process_instance_key),
        "elementId": record.element_id,
        "elementInstanceKey": str(record.element_instance_key),
        "messageSubscriptionState": record.state,
        "lastUpdatedDate": format_date(record.last_updated_ms),
        "messageName": record.message_name,
        "correlationKey": record.correlation_key,
        "tenantId": record.tenant_id,
    }


def incident_item(record: IncidentRecord) -> JsonObject:
    return {
        "processDefinitionId": record.bpmn_process_id,
        "errorType": record.error_type,
        "errorMessage": record.error_message,
        "elementId": record.element_id,
        "creationTime": format_date(record.creation_ms),
        "state": record.state,
        "tenantId": record.tenant_id,
        "incidentKey": str(record.key),
        "processDefinitionKey": str(record.process_definition_key),
        "processInstanceKey": str(record.process_instance_key),
        "elementInstanceKey": str(record.element_instance_key),
        "jobKey": key_text(record.job_key),
    }


def variable_item(record: VariableRecord, truncate_at: int | None) -> JsonObject:
    """A variable search item; ``truncate_at`` None returns the full value."""
    truncated = truncate_at is not None and len(record.value) > truncate_at
    return {
        "name": record.name,
        "value": record.value[:truncate_at] if truncated else record.value,
        "isTruncated": truncated,
        "tenantId": record.tenant_id,
        "variableKey": str(record.key),
        "scopeKey": str(record.scope_key),
        "processInstanceKey": str(record.process_instance_key),
    }


def variable_result(record: VariableRecord) -> JsonObject:
    """GET /v2/variables/{key}: always the full value, no truncation flag."""
    return {
        "name": record.name,
        "value": record.value,
        "tenantId": record.tenant_id,
        "variableKey": str(record.key),
        "scopeKey": str(record.scope_key),
        "processInstanceKey": str(record.process_instance_key),
    }


# ---------------------------------------------------------------------------- endpoint specs

PROCESS_DEFINITION_FIELDS: dict[str, FieldKind] = {
    "name": "string",
    "isLatestVersion": "bool",
    "resourceName": "string",
    "version": "int",
    "versionTag": "string",
    "processDefinitionId": "string",
    "tenantId": "string",
    "processDefinitionKey": "key",
    "hasStartForm": "bool",
    # 8.9 only (its contract table allows it; every definition here is ACTIVE)
    "state": "enum",
}
PROCESS_DEFINITION_SORT = {
    name: kind
    for name, kind in PROCESS_DEFINITION_FIELDS.items()
    if name not in ("isLatestVersion", "hasStartForm", "state")
}

PROCESS_INSTANCE_FIELDS: dict[str, FieldKind] = {
    "processDefinitionId": "string",
    "processDefinitionName": "string",
    "processDefinitionVersion": "int",
    "processDefinitionVersionTag": "string",
    "processDefinitionKey": "key",
    "processInstanceKey": "key",
    "parentProcessInstanceKey": "key",
    "parentElementInstanceKey": "key",
    "startDate": "date",
    "endDate": "date",
    "state": "enum",
    "hasIncident": "bool",
    "tenantId": "string",
}

ELEMENT_INSTANCE_FIELDS: dict[str, FieldKind] = {
    "processDefinitionId": "string",
    "state": "enum",
    "type": "enum",
    "elementId": "string",
    "elementName": "string",
    "hasIncident": "bool",
    "tenantId": "string",
    "elementInstanceKey": "key",
    "processInstanceKey": "key",
    "processDefinitionKey": "key",
    "incidentKey": "key",
    "startDate": "date",
    "endDate": "date",
    "elementInstanceScopeKey": "key",
}
ELEMENT_INSTANCE_SORT = {
    name: kind
    for name, kind in ELEMENT_INSTANCE_FIELDS.items()
    if name not in ("hasIncident", "elementInstanceScopeKey")
}

MESSAGE_SUBSCRIPTION_FIELDS: dict[str, FieldKind] = {
    "messageSubscriptionKey": "key",
    "processDefinitionId": "string",
    "processDefinitionKey": "key",
    "processInstanceKey": "key",
    "elementId": "string",
    "elementInstanceKey": "key",
    "messageSubscriptionState": "enum",
    "lastUpdatedDate": "date",
    "messageName": "string",
    "correlationKey": "string",
    "tenantId": "string",
}

INCIDENT_FIELDS: dict[str, FieldKind] = {
    "processDefinitionId": "string",
    "errorType": "enum",
    "errorMessage": "string",
    "elementId": "string",
    "creationTime": "date",
    "state": "enum",
    "tenantId": "string",
    "incidentKey": "key",
    "processDefinitionKey": "key",
    "processInstanceKey": "key",
    "elementInstanceKey": "key",
    "jobKey": "key",
}
INCIDENT_SORT = {name: kind for name, kind in INCIDENT_FIELDS.items() if name != "errorMessage"}

VARIABLE_FIELDS: dict[str, FieldKind] = {
    "name": "string",
    "value": "string",
    "tenantId": "string",
    "isTruncated": "bool",
    "variableKey": "key",
    "scopeKey": "key",
    "processInstanceKey": "key",
}
VARIABLE_SORT = {name: kind for name, kind in VARIABLE_FIELDS.items() if name != "isTruncated"}

R = TypeVar("R")


def _record_key(record: Any) -> int:
    key: int = record.key
    return key


@dataclass(frozen=True)
class SearchEndpoint(Generic[R]):
    """What one search endpoint needs: its fields, the engine query and the item mapping.

    ``pushdown`` maps JSON filter fields to keyword arguments of ``query`` and ``count`` (the
    engine filters those by equality through its indexes). ``query`` also takes ``after_key``
    and ``limit`` and returns records sorted by key. ``engine_only`` fields are filters that are
    not item fields (e.g. ``isLatestVersion``); they must be pushed down and take plain values.
    """

    fields: Mapping[str, FieldKind]
    sortable: Mapping[str, FieldKind]
    key_field: str
    pushdown: Mapping[str, str]
    query: Callable[..., list[R]]
    count: Callable[..., int]
    record_key: Callable[[R], int]
    to_item: Callable[[R], JsonObject]
    engine_only: frozenset[str] = frozenset()


def search(
    body: JsonObject, endpoint: SearchEndpoint[R], total_cap: int = DEFAULT_TOTAL_ITEMS_CAP
) -> JsonObject:
    """Run one search request: validate, query the engine, filter, sort, page."""
    unknown = set(body) - {"filter", "sort", "page"}
    if unknown:
        raise ApiError(400, f"Unknown request field '{sorted(unknown)[0]}'")
    raw_filter = body.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, dict):
        raise ApiError(400, f"'filter' must be an object, got {type(raw_filter).__name__}")
    raw_filter = raw_filter or {}
    engine_filter = {k: v for k, v in raw_filter.items() if k in endpoint.engine_only}
    item_filter = {k: v for k, v in raw_filter.items() if k not in endpoint.engine_only}
    for name, value in engine_filter.items():
        if isinstance(value, dict):
            raise ApiError(400, f"'filter.{name}' supports only a plain value")
    item_fields = {k: v for k, v in endpoint.fields.items() if k not in endpoint.engine_only}
    _, engine_operands = compile_filter(engine_filter, endpoint.fields)
    predicates, item_operands = compile_filter(item_filter, item_fields)
    sort = parse_sort(body.get("sort"), endpoint.sortable, endpoint.key_field)
    page = parse_page(body.get("page"), len(sort.fields))
    # The engine filters these through its indexes (a list = any of the values), so only the
    # records that can match are read, even for a batch of 100 keys in a `$in`.
    arguments = {
        endpoint.pushdown[name]: value
        for name, value in {**item_operands, **engine_operands}.items()
        if name in endpoint.pushdown
    }
    if sort.fields == ((endpoint.key_field, False),) and _fully_pushed(raw_filter, endpoint):
        # The common discovery query (equality or `$in` filters, key order) over 100,000s of
        # records: the engine pages by key, so the cost follows the page, not the matches.
        return _page_by_key(endpoint, arguments, page, total_cap)
    records = endpoint.query(**arguments)
    items = [endpoint.to_item(record) for record in records]
    matches = [item for item in items if all(check(item) for check in predicates)]
    return paginate(matches, sort, endpoint.fields, page, total_cap)


def _fully_pushed(raw_filter: JsonObject, endpoint: SearchEndpoint[Any]) -> bool:
    """Whether the engine's filtering alone is exact (no item predicate left to check)."""
    return all(
        name in endpoint.pushdown
        and (not isinstance(value, dict) or set(value) == {"$eq"} or set(value) == {"$in"})
        for name, value in raw_filter.items()
    )


def _cursor_key(cursor: list[Json], where: str) -> int:
    [value] = cursor
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{where}' does not match the requested sort order")
    return value


def _page_by_key(
    endpoint: SearchEndpoint[R], arguments: JsonObject, page: PageRequest, total_cap: int
) -> JsonObject:
    """One page in ascending key order, read from the engine with ``after_key``/``limit``."""
    total: int | None = None
    if page.after is not None:
        after_key = _cursor_key(page.after, "page.after")
        chosen = endpoint.query(**arguments, after_key=after_key, limit=page.limit)
    elif page.before is not None:
        # The engine pages forward only: a backward page reads every match (rare: the
        # discovery walks forward), which gives the exact total for free.
        before_key = _cursor_key(page.before, "page.before")
        records = endpoint.query(**arguments)
        end = bisect.bisect_left(records, before_key, key=endpoint.record_key)
        chosen = records[max(0, end - page.limit) : end]
        total = len(records)
    else:
        chosen = endpoint.query(**arguments, limit=page.offset + page.limit)[page.offset :]
        if page.offset == 0 and len(chosen) < page.limit:
            total = len(chosen)  # a short first page holds every match
    if total is None:
        total = capped_count(endpoint, arguments, total_cap)
    return {
        "items": [endpoint.to_item(record) for record in chosen],
        "page": page_info(
            total,
            total_cap,
            [endpoint.record_key(chosen[0])] if chosen else None,
            [endpoint.record_key(chosen[-1])] if chosen else None,
        ),
    }


def capped_count(endpoint: SearchEndpoint[Any], arguments: JsonObject, cap: int) -> int:
    """How many records match: exact up to ``cap``, ``cap + 1`` meaning "more than ``cap``".

    Counting every match of several filters visits every candidate record; stopping after
    ``cap + 1`` bounds the cost like Camunda's capped totals do.
    """
    return endpoint.count(**arguments, limit=cap + 1)


# ---------------------------------------------------------------------------- body helpers


def _field(body: JsonObject, name: str, kinds: tuple[type, ...], default: Json = None) -> Json:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds:
        raise ApiError(400, f"'{name}' has the wrong type: {type(value).__name__}")
    if not isinstance(value, kinds):
        expected = " or ".join(kind.__name__ for kind in kinds)
        raise ApiError(400, f"'{name}' must be of type {expected}, got {type(value).__name__}")
    return value


def _variables(body: JsonObject, name: str = "variables") -> JsonObject:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"'{name}' must be a JSON object, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------- the API


def parse_json_body(raw: bytes) -> JsonObject:
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(
            400, f"Request body is not valid JSON: {error}", title="Bad Request"
        ) from None
    if not isinstance(parsed, dict):
        raise ApiError(
            400,
            f"Request body must be a JSON object, got {type(parsed).__name__}",
            title="Bad Request",
        )
    return parsed


Handler = Callable[["Request"], "Response"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: JsonObject
    params: dict[str, str] = field(default_factory=dict)
    accept: str | None = None
    content_type: str | None = None
    #: the body as received, for the one endpoint that is not JSON (deployments: a form)
    raw: bytes = b""


@dataclass
class Response:
    status: int
    body: Json = None
    content_type: str = "application/json"


class RestApi:
    """Routes and handlers, independent of the HTTP transport (easy to reason about)."""

    def __init__(
        self,
        engine: Engine,
        *,
        truncation_limit: int = DEFAULT_TRUNCATION_LIMIT,
        grpc_host: str = "127.0.0.1",
        grpc_port: int = 26500,
        request_timeout_ms: int = 10_000,
        total_items_cap: int = DEFAULT_TOTAL_ITEMS_CAP,
        camunda_version: str = DEFAULT_VERSION,
    ) -> None:
        if camunda_version not in VERSIONS:
            raise ValueError(
                f"camunda_version must be one of {', '.join(VERSIONS)}, got {camunda_version!r}"
            )
        self.version = camunda_version
        self.traits: VersionTraits = VERSION_TRAITS[camunda_version]
        #: set to a list to record every routed request (method, path, body, Accept): tests
        #: check what a client sent against each version's contract
        self.recorded: list[tuple[str, str, JsonObject, str | None]] | None = None
        self.engine = engine
        self.truncation_limit = truncation_limit
        self.total_items_cap = total_items_cap
        self.grpc_host = grpc_host
        self.grpc_port = grpc_port
        self.request_timeout_ms = request_timeout_ms
        key = r"(?P<key>[^/]+)"
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/v2/topology"), self.topology),
            ("POST", re.compile(r"/v2/deployments"), self.deploy),
            ("GET", re.compile(r"/v2/status"), self.status),
            ("POST", re.compile(r"/v2/process-definitions/search"), self.search_definitions),
            ("GET", re.compile(rf"/v2/process-definitions/{key}/xml"), self.definition_xml),
            ("GET", re.compile(rf"/v2/process-definitions/{key}"), self.get_definition),
            ("POST", re.compile(r"/v2/process-instances/search"), self.search_instances),
            ("POST", re.compile(r"/v2/process-instances"), self.create_instance),
            ("GET", re.compile(rf"/v2/process-instances/{key}"), self.get_instance),
            ("POST", re.compile(rf"/v2/process-instances/{key}/cancellation"), self.cancel),
            ("POST", re.compile(r"/v2/element-instances/search"), self.search_elements),
            ("GET", re.compile(rf"/v2/element-instances/{key}"), self.get_element),
            ("PUT", re.compile(rf"/v2/element-instances/{key}/variables"), self.set_variables),
            ("POST", re.compile(r"/v2/incidents/search"), self.search_incidents),
            ("GET", re.compile(rf"/v2/incidents/{key}"), self.get_incident),
            ("POST", re.compile(rf"/v2/incidents/{key}/resolution"), self.resolve_incident),
            ("POST", re.compile(r"/v2/message-subscriptions/search"), self.search_subscriptions),
            ("POST", re.compile(r"/v2/messages/publication"), self.publish),
            ("POST", re.compile(r"/v2/variables/search"), self.search_variables),
            ("GET", re.compile(rf"/v2/variables/{key}"), self.get_variable),
        ]

    # -------------------------------------------------------------- dispatch

    def handle(self, request: Request, raw_body: bytes | None = None) -> Response:
        """Route a request; every failure becomes a problem document.

        ``raw_body`` (from the transport) is parsed only once the route is known, so an
        unknown route is a 404 whatever its body, like Camunda's."""
        try:
            handler = self._route(request)
            produces = "text/xml" if handler == self.definition_xml else "application/json"
            if not acceptable(request.accept, produces):
                raise ApiError(
                    406,
                    f"Acceptable representations: [{produces}, application/problem+json]",
                    title="Not Acceptable",
                )
            if raw_body is not None and handler == self.deploy:
                request.raw = raw_body
            elif raw_body is not None:
                request.body = parse_json_body(raw_body)
            if self.recorded is not None:
                self.recorded.append((request.method, request.path, request.body, request.accept))
            return handler(request)
        except EngineError as error:
            return self._problem(api_error_from_engine(error), request.path)
        except ApiError as error:
            return self._problem(error, request.path)
        except Exception:  # never let a bug kill the connection without an answer
            log.exception("REST %s %s failed", request.method, request.path)
            return self._problem(
                ApiError(500, "Unexpected error; see the server log"), request.path
            )

    def _route(self, request: Request) -> Handler:
        path_matched = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                request.params = match.groupdict()
                return handler
        if path_matched:
            raise ApiError(
                405,
                f"Request method '{request.method}' is not supported",
                title="Method Not Allowed",
            )
        raise ApiError(404, f"No endpoint {request.method} {request.path}", title="Not Found")

    @staticmethod
    def _problem(error: ApiError, instance: str) -> Response:
        return Response(error.status, problem_document(error, instance), "application/problem+json")

    # -------------------------------------------------------------- version shaping

    def _shape(self, kind: str, item: JsonObject) -> JsonObject:
        """An item as the emulated version sends it: 8.8 leaves absent fields out, 8.9 sends
        them as null and has a few more fields."""
        extra = self.traits.extra_fields.get(kind)
        if extra:
            for name, source in extra.items():
                if source == ROOT_KEY:
                    # no call activities in the engine: every instance is its own root
                    item[name] = item.get("processInstanceKey")
                else:
                    item[name] = list(source) if isinstance(source, list) else source
        if not self.traits.nulls:
            return {name: value for name, value in item.items() if value is not None}
        return item

    def _search(self, request: Request, endpoint: SearchEndpoint[R], kind: str) -> Response:
        """Check the request against the version's contract, then search and shape."""
        contract = contract_for(self.version, request.path)
        if contract is not None:
            try:
                check_search(contract, request.body)
            except ContractViolation as violation:
                raise violation_error(violation) from None
        to_item = endpoint.to_item
        shaped = dataclasses.replace(endpoint, to_item=lambda r: self._shape(kind, to_item(r)))
        body = search(request.body, shaped, self.total_items_cap)
        page = body["page"]
        raw_filter = request.body.get("filter")
        if isinstance(raw_filter, dict) and raw_filter.get("isLatestVersion") is True:
            page["startCursor"] = None  # latest-version pages only go forward
        if not self.traits.nulls:
            body["page"] = {name: value for name, value in page.items() if value is not None}
        return Response(200, body)

    # -------------------------------------------------------------- cluster

    def topology(self, request: Request) -> Response:
        info = self.engine.topology(self.grpc_host, self.grpc_port)
        brokers = [
            {
                "nodeId": broker.node_id,
                "host": broker.host,
                "port": broker.port,
                "partitions": [
                    {
                        "partitionId": broker.partition_id,
                        "role": broker.role,
                        "health": broker.health,
                    }
                ],
                "version": self.traits.gateway_version,
            }
            for broker in info.brokers
        ]
        body: JsonObject = {
            "brokers": brokers,
            "clusterSize": info.cluster_size,
            "partitionsCount": info.partitions_count,
            "replicationFactor": info.replication_factor,
            "gatewayVersion": self.traits.gateway_version,
            "lastCompletedChangeId": "-1",
        }
        if self.traits.topology_cluster_id:
            body["clusterId"] = None
        return Response(200, body)

    def status(self, request: Request) -> Response:
        return Response(204)

    # -------------------------------------------------------------- process definitions

    def search_definitions(self, request: Request) -> Response:
        endpoint = SearchEndpoint(
            fields=PROCESS_DEFINITION_FIELDS,
            sortable=PROCESS_DEFINITION_SORT,
            key_field="processDefinitionKey",
            pushdown={
                "processDefinitionKey": "key",
                "processDefinitionId": "bpmn_process_id",
                "isLatestVersion": "is_latest",
                "tenantId": "tenant_id",
            },
            query=self.engine.process_definitions,
            count=functools.partial(self.engine.count, "process_definitions"),
            record_key=_record_key,
            to_item=process_definition_item,
            engine_only=frozenset({"isLatestVersion"}),
        )
        return self._search(request, endpoint, "processDefinition")

    def get_definition(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "processDefinitionKey")
        records = self.engine.process_definitions(key=key)
        if not records:
            raise ApiError(404, f"Process definition with key '{key}' not found")
        return Response(200, self._shape("processDefinition", process_definition_item(records[0])))

    def definition_xml(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "processDefinitionKey")
        if not self.engine.process_definitions(key=key):
            raise ApiError(404, f"Process definition with key '{key}' not found")
        xml = self.engine.process_definition_xml(key)
        if not xml:
            return Response(204)
        return Response(200, xml, "text/xml")

    # -------------------------------------------------------------- process instances

    def search_instances(self, request: Request) -> Response:
        endpoint = SearchEndpoint(
            fields=PROCESS_INSTANCE_FIELDS,
            sortable=PROCESS_INSTANCE_FIELDS,
            key_field="processInstanceKey",
            pushdown={
                "processInstanceKey": "key",
                "processDefinitionKey": "process_definition_key",
                "processDefinitionId": "bpmn_process_id",
                "state": "state",
            },
            query=self.engine.process_instances,
            count=functools.partial(self.engine.count, "process_instances"),
            record_key=_record_key,
            to_item=process_instance_item,
        )
        return self._search(request, endpoint, "processInstance")

    def get_instance(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "processInstanceKey")
        records = self.engine.process_instances(key=key)
        if not records:
            raise ApiError(404, f"Process instance with key '{key}' not found")
        return Response(200, self._shape("processInstance", process_instance_item(records[0])))

    def create_instance(self, request: Request) -> Response:
        body = request.body
        known = {
            "processDefinitionId",
            "processDefinitionKey",
            "processDefinitionVersion",
            "variables",
            "tenantId",
            "awaitCompletion",
            "requestTimeout",
            "fetchVariables",
            "operationReference",
            "startInstructions",
        }
        unknown = set(body) - known
        if unknown:
            raise ApiError(400, f"Unknown request field '{sorted(unknown)[0]}'")
        process_id = _field(body, "processDefinitionId", (str,))
        raw_key = body.get("processDefinitionKey")
        definition_key = None if raw_key is None else parse_key(raw_key, "processDefinitionKey")
        if (process_id is None) == (definition_key is None):
            raise ApiError(
                400, "Exactly one of 'processDefinitionId' and 'processDefinitionKey' is required"
            )
        if body.get("startInstructions"):
            raise ApiError(400, "'startInstructions' are not supported by the development engine")
        version = _field(body, "processDefinitionVersion", (int,), -1)
        tenant_id = _field(body, "tenantId", (str,), DEFAULT_TENANT)
        await_completion = _field(body, "awaitCompletion", (bool,), False)
        timeout_ms = _field(body, "requestTimeout", (int,), 0) or self.request_timeout_ms
        fetch_variables = _field(body, "fetchVariables", (list,), None)
        if fetch_variables is not None and not all(isinstance(n, str) for n in fetch_variables):
            raise ApiError(400, "'fetchVariables' must be an array of strings")
        variables = _variables(body)
        info = self.engine.create_process_instance(
            bpmn_process_id=process_id,
            version=version,
            process_definition_key=definition_key,
            variables=variables,
            tenant_id=tenant_id,
        )
        result_variables: JsonObject = {}
        if await_completion:
            future = self.engine.await_instance_result(info.process_instance_key, fetch_variables)
            try:
                result_variables = future.result(timeout=timeout_ms / 1000)
            except TimeoutError:
                future.cancel()
                raise ApiError(
                    504,
                    f"Process instance '{info.process_instance_key}' did not complete within "
                    f"{timeout_ms} ms",
                    title="DEADLINE_EXCEEDED",
                ) from None
        return Response(
            200,
            self._shape(
                "createdInstance",
                {
                    "processDefinitionId": info.bpmn_process_id,
                    "processDefinitionVersion": info.version,
                    "processDefinitionKey": str(info.process_definition_key),
                    "processInstanceKey": str(info.process_instance_key),
                    "tenantId": info.tenant_id,
                    "variables": result_variables,
                },
            ),
        )

    def cancel(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "processInstanceKey")
        self.engine.cancel_process_instance(key)
        return Response(204)

    # -------------------------------------------------------------- element instances

    def search_elements(self, request: Request) -> Response:
        endpoint = SearchEndpoint(
            fields=ELEMENT_INSTANCE_FIELDS,
            sortable=ELEMENT_INSTANCE_SORT,
            key_field="elementInstanceKey",
            pushdown={
                "elementInstanceKey": "key",
                "processInstanceKey": "process_instance_key",
                "processDefinitionKey": "process_definition_key",
                "elementId": "element_id",
                "state": "state",
                "elementInstanceScopeKey": "flow_scope_key",
            },
            query=self.engine.element_instances,
            count=functools.partial(self.engine.count, "element_instances"),
            record_key=_record_key,
            to_item=element_instance_item,
            engine_only=frozenset({"elementInstanceScopeKey"}),
        )
        return self._search(request, endpoint, "elementInstance")

    def get_element(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "elementInstanceKey")
        records = self.engine.element_instances(key=key)
        if not records:
            raise ApiError(404, f"Element instance with key '{key}' not found")
        return Response(200, self._shape("elementInstance", element_instance_item(records[0])))

    def set_variables(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "elementInstanceKey")
        body = request.body
        unknown = set(body) - {"variables", "local", "operationReference"}
        if unknown:
            raise ApiError(400, f"Unknown request field '{sorted(unknown)[0]}'")
        if not isinstance(body.get("variables"), dict):
            raise ApiError(400, "'variables' is required and must be a JSON object")
        local = _field(body, "local", (bool,), False)
        self.engine.set_variables(key, body["variables"], local)
        return Response(204)

    # -------------------------------------------------------------- incidents

    def search_incidents(self, request: Request) -> Response:
        endpoint = SearchEndpoint(
            fields=INCIDENT_FIELDS,
            sortable=INCIDENT_SORT,
            key_field="incidentKey",
            pushdown={
                "incidentKey": "key",
                "processInstanceKey": "process_instance_key",
                "state": "state",
            },
            query=self.engine.incidents,
            count=functools.partial(self.engine.count, "incidents"),
            record_key=_record_key,
            to_item=incident_item,
        )
        return self._search(request, endpoint, "incident")

    def get_incident(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "incidentKey")
        records = self.engine.incidents(key=key)
        if not records:
            raise ApiError(404, f"Incident with key '{key}' not found")
        return Response(200, self._shape("incident", incident_item(records[0])))

    def resolve_incident(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "incidentKey")
        self.engine.resolve_incident(key)
        return Response(204)

    # -------------------------------------------------------------- messages

    def search_subscriptions(self, request: Request) -> Response:
        endpoint = SearchEndpoint(
            fields=MESSAGE_SUBSCRIPTION_FIELDS,
            sortable=MESSAGE_SUBSCRIPTION_FIELDS,
            key_field="messageSubscriptionKey",
            pushdown={
                "messageSubscriptionKey": "key",
                "processInstanceKey": "process_instance_key",
                "processDefinitionKey": "process_definition_key",
                "elementId": "element_id",
                "elementInstanceKey": "element_instance_key",
                "messageSubscriptionState": "state",
            },
            query=self._subscription_query(request.body),
            count=functools.partial(self.engine.count, "message_subscriptions"),
            record_key=_record_key,
            to_item=message_subscription_item,
        )
        return self._search(request, endpoint, "messageSubscription")

    def _subscription_query(self, body: Json) -> Callable[..., list[Any]]:
        """The engine query, narrowed to recent writes for a ``lastUpdatedDate`` lower bound
        (an incremental sync then costs the changes, not every subscription ever made)."""
        raw = body.get("filter") if isinstance(body, dict) else None
        condition = raw.get("lastUpdatedDate") if isinstance(raw, dict) else None
        bounds: list[str] = []
        if isinstance(condition, str):
            bounds.append(condition)
        elif isinstance(condition, dict):
            bounds.extend(
                v
                for op, v in condition.items()
                if op in ("$gt", "$gte", "$eq") and isinstance(v, str)
            )
        if not bounds:
            return self.engine.message_subscriptions
        try:
            moment = max(parse_date(b, "filter.lastUpdatedDate") for b in bounds)
        except ApiError:
            return self.engine.message_subscriptions  # the filter check reports it
        from_ms = int(moment.timestamp() * 1000)
        return functools.partial(self.engine.message_subscriptions, updated_from_ms=from_ms)

    def deploy(self, request: Request) -> Response:
        """``POST /v2/deployments``: a multipart form of ``resources`` files and an optional
        ``tenantId``, deployed atomically like the gRPC DeployResource."""
        try:
            parts = parse_form_data(request.content_type, request.raw)
        except MultipartError as error:
            raise ApiError(
                400, f"Invalid deployment request: {error}", title="Bad Request"
            ) from None
        unknown = sorted({part.name for part in parts} - {"resources", "tenantId"})
        if unknown:
            raise ApiError(400, f"Unknown request field '{unknown[0]}'")
        resources = [
            (part.filename or "resource", part.content)
            for part in parts
            if part.name == "resources"
        ]
        if not resources:
            raise ApiError(400, "Expected to deploy at least one resource, but none given")
        tenants = [
            part.content.decode("utf-8", "replace") for part in parts if part.name == "tenantId"
        ]
        result = self.engine.deploy(resources, tenants[-1] if tenants else DEFAULT_TENANT)
        return Response(
            200,
            {
                "deploymentKey": str(result.key),
                "tenantId": result.tenant_id,
                "deployments": [
                    {
                        "processDefinition": {
                            "processDefinitionId": meta.bpmn_process_id,
                            "processDefinitionVersion": meta.version,
                            "resourceName": meta.resource_name,
                            "tenantId": meta.tenant_id,
                            "processDefinitionKey": str(meta.process_definition_key),
                        }
                    }
                    for meta in result.processes
                ],
            },
        )

    def publish(self, request: Request) -> Response:
        body = request.body
        known = {"name", "correlationKey", "timeToLive", "messageId", "variables", "tenantId"}
        unknown = set(body) - known
        if unknown:
            raise ApiError(400, f"Unknown request field '{sorted(unknown)[0]}'")
        name = _field(body, "name", (str,))
        if not name:
            raise ApiError(400, "No name provided: 'name' is required and must not be empty")
        ttl = _field(body, "timeToLive", (int,), 0)
        if ttl < 0:
            raise ApiError(400, f"'timeToLive' must be >= 0, got {ttl}")
        tenant_id = _field(body, "tenantId", (str,), DEFAULT_TENANT)
        key = self.engine.publish_message(
            name,
            correlation_key=_field(body, "correlationKey", (str,), ""),
            time_to_live_ms=ttl,
            message_id=_field(body, "messageId", (str,), ""),
            variables=_variables(body),
            tenant_id=tenant_id,
        )
        return Response(200, {"messageKey": str(key), "tenantId": tenant_id})

    # -------------------------------------------------------------- variables

    def search_variables(self, request: Request) -> Response:
        truncate = request.query.get("truncateValues", ["true"])[-1].lower() != "false"
        limit = self.truncation_limit if truncate else None
        endpoint = SearchEndpoint(
            fields=VARIABLE_FIELDS,
            sortable=VARIABLE_SORT,
            key_field="variableKey",
            pushdown={
                "variableKey": "key",
                "processInstanceKey": "process_instance_key",
                "scopeKey": "scope_key",
                "name": "name",
            },
            query=self.engine.variables,
            count=functools.partial(self.engine.count, "variables"),
            record_key=_record_key,
            to_item=lambda record: variable_item(record, limit),
        )
        return self._search(request, endpoint, "variable")

    def get_variable(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "variableKey")
        return Response(200, self._shape("variable", variable_result(self.engine.variable(key))))


# ---------------------------------------------------------------------------- HTTP transport


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "devengine-rest"
    # TCP_NODELAY on every accepted connection (set by StreamRequestHandler.setup): without it
    # a write that follows an unacknowledged one on a keep-alive connection waits for the
    # client's delayed ACK, ~40 ms per request on Linux.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        auth = self.server.auth
        try:
            body = self._read_body()
        except ApiError as error:
            self._send(RestApi._problem(error, path))
            self.close_connection = True
            return
        if not auth.accepts(self.headers.get("Authorization")):
            denied = ApiError(401, "Missing or invalid credentials", title="Unauthorized")
            self._send(RestApi._problem(denied, path), {"WWW-Authenticate": auth.scheme})
            return
        request = Request(
            method,
            path,
            parse_qs(url.query),
            {},
            accept=self.headers.get("Accept"),
            content_type=self.headers.get("Content-Type"),
        )
        self._send(self.server.api.handle(request, raw_body=body))

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, "Invalid Content-Length header") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise ApiError(413, f"Request body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _send(self, response: Response, headers: Mapping[str, str] | None = None) -> None:
        if response.body is None:
            payload = b""
        elif isinstance(response.body, str) and not response.content_type.endswith("json"):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body).encode()
        # Status line, headers and body leave in one write (one segment for small answers);
        # the header methods write to ``wfile``, so they are pointed at a buffer meanwhile.
        socket_file, buffer = self.wfile, io.BytesIO()
        self.wfile = buffer
        try:
            self.send_response(response.status)
            if payload:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            self.wfile = socket_file
        self.wfile.write(buffer.getvalue())

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("REST %s - %s", self.address_string(), format % args)


class _HttpServer(TlsServerMixin, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: RestApi,
        auth: AuthConfig,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.api = api
        self.auth = auth
        self.tls = tls
        super().__init__(address, _Handler)


class RestServer:
    """The REST v2 server on its own thread; ``port=0`` binds a free port."""

    def __init__(
        self,
        api: RestApi,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth: AuthConfig | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = _HttpServer((host, port), api, auth or AuthConfig(), tls)
        self.api = api
        self._thread: threading.Thread | None = None
        self.host = host
        self.scheme = "https" if tls is not None else "http"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="devengine-rest",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and release the port (in-flight requests may finish)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
