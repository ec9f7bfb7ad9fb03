"""REST v2 search endpoints of the development engine: each record type as a JSON item
in the emulated version's shape, each endpoint's fields and sorts, and the search itself."""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .auth import AuthConfig as AuthConfig
from .records import (
    ElementInstanceRecord,
    IncidentRecord,
    MessageSubscriptionRecord,
    ProcessDefinitionRecord,
    ProcessInstanceRecord,
    VariableRecord,
)
from .rest_query import (
    DEFAULT_TOTAL_ITEMS_CAP,
    ApiError,
    FieldKind,
    Json,
    JsonObject,
    PageRequest,
    compile_filter,
    format_date,
    key_text,
    page_info,
    paginate,
    parse_page,
    parse_sort,
)

log = logging.getLogger(__name__)


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


def record_key(record: Any) -> int:
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
