"""What each emulated Camunda version's REST API v2 accepts and answers, as data.

One :class:`SearchContract` per search endpoint and version: the filter properties with their
type, the advanced operators they take (none = a plain value only) and enum values, the sort
fields, and the paging modes. The engine rejects anything outside the table with a 400 like
Camunda does, and the tests check the worker's own requests against the same tables, so a
request that a real cluster would refuse fails in CI.

Written from the published Orchestration Cluster API specification of 8.8 (stable/8.8, with
the ``isLatestVersion`` restrictions of the 2026 backport) and 8.9, as the official
TypeScript client of each version encodes it (``@camunda8/orchestration-cluster-api`` 8.8.x
and 9.x). A new version is a new table here, not new code.

Response shaping differs too: 8.8 leaves absent optional fields out, 8.9 sends them as
``null`` and adds a few required fields (see :data:`VERSION_TRAITS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DEFAULT_VERSION",
    "ROOT_KEY",
    "SEARCH_CONTRACTS",
    "VERSIONS",
    "VERSION_TRAITS",
    "ContractViolation",
    "FieldRule",
    "SearchContract",
    "VersionTraits",
    "acceptable",
    "check_search",
    "contract_for",
    "request_violations",
]

CamundaVersion = Literal["8.8", "8.9"]
VERSIONS: tuple[CamundaVersion, ...] = ("8.8", "8.9")
DEFAULT_VERSION: CamundaVersion = "8.8"

Kind = Literal["string", "key", "int", "bool", "enum", "date"]

# Advanced operator sets of the specification's filter property types.
STRING_OPS = frozenset({"$eq", "$neq", "$exists", "$in", "$notIn", "$like"})
KEY_OPS = frozenset({"$eq", "$neq", "$exists", "$in", "$notIn"})
INT_OPS = frozenset({"$eq", "$neq", "$exists", "$gt", "$gte", "$lt", "$lte", "$in"})
DATE_OPS = frozenset({"$eq", "$neq", "$exists", "$gt", "$gte", "$lt", "$lte", "$in"})
ENUM_OPS = frozenset({"$eq", "$neq", "$exists", "$in", "$like"})
PLAIN: frozenset[str] = frozenset()

ELEMENT_STATES = frozenset({"ACTIVE", "COMPLETED", "TERMINATED"})
SUBSCRIPTION_STATES = frozenset({"CORRELATED", "CREATED", "DELETED", "MIGRATED"})
PROCESS_INSTANCE_STATES = frozenset({"ACTIVE", "COMPLETED", "TERMINATED"})
INCIDENT_STATES = frozenset({"ACTIVE", "MIGRATED", "RESOLVED", "PENDING"})
DEFINITION_STATES = frozenset({"ACTIVE", "DRAINING", "DELETED"})
ELEMENT_TYPES = frozenset(
    {
        "UNSPECIFIED",
        "PROCESS",
        "SUB_PROCESS",
        "EVENT_SUB_PROCESS",
        "AD_HOC_SUB_PROCESS",
        "AD_HOC_SUB_PROCESS_INNER_INSTANCE",
        "START_EVENT",
        "INTERMEDIATE_CATCH_EVENT",
        "INTERMEDIATE_THROW_EVENT",
        "BOUNDARY_EVENT",
        "END_EVENT",
        "SERVICE_TASK",
        "RECEIVE_TASK",
        "USER_TASK",
        "MANUAL_TASK",
        "TASK",
        "EXCLUSIVE_GATEWAY",
        "INCLUSIVE_GATEWAY",
        "PARALLEL_GATEWAY",
        "EVENT_BASED_GATEWAY",
        "SEQUENCE_FLOW",
        "MULTI_INSTANCE_BODY",
        "CALL_ACTIVITY",
        "BUSINESS_RULE_TASK",
        "SCRIPT_TASK",
        "SEND_TASK",
        "UNKNOWN",
    }
)
INCIDENT_ERROR_TYPES = frozenset(
    {
        "UNSPECIFIED",
        "UNKNOWN",
        "IO_MAPPING_ERROR",
        "JOB_NO_RETRIES",
        "EXECUTION_LISTENER_NO_RETRIES",
        "TASK_LISTENER_NO_RETRIES",
        "AD_HOC_SUB_PROCESS_NO_RETRIES",
        "CONDITION_ERROR",
        "EXTRACT_VALUE_ERROR",
        "CALLED_ELEMENT_ERROR",
        "UNHANDLED_ERROR_EVENT",
        "MESSAGE_SIZE_EXCEEDED",
        "CALLED_DECISION_ERROR",
        "DECISION_EVALUATION_ERROR",
        "FORM_NOT_FOUND",
        "RESOURCE_NOT_FOUND",
    }
)

PAGE_MODES = frozenset({"offset", "after", "before"})


@dataclass(frozen=True)
class FieldRule:
    """One filter property: its type, its advanced operators (empty = plain value only) and,
    for enums, the allowed values."""

    kind: Kind
    operators: frozenset[str] = PLAIN
    values: frozenset[str] = frozenset()


def _rule(
    kind: Kind, operators: frozenset[str] = PLAIN, values: frozenset[str] = frozenset()
) -> FieldRule:
    return FieldRule(kind, operators, values)


@dataclass(frozen=True)
class SearchContract:
    """The accepted request of one search endpoint in one version."""

    filters: Mapping[str, FieldRule]
    sort: frozenset[str]
    paging: frozenset[str] = PAGE_MODES
    #: With ``isLatestVersion: true``: the only sort fields and paging modes allowed.
    latest_sort: frozenset[str] | None = None
    latest_paging: frozenset[str] | None = None


@dataclass(frozen=True)
class VersionTraits:
    """How a version shapes answers."""

    gateway_version: str
    #: absent optional fields: left out (8.8) or sent as null (8.9)
    nulls: bool
    #: fields each item of an endpoint has in this version only, with how to fill them
    extra_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``clusterId`` in the topology
    topology_cluster_id: bool = False


# ---------------------------------------------------------------------------- 8.8

_DEFINITIONS_88 = SearchContract(
    filters={
        "name": _rule("string", STRING_OPS),
        "isLatestVersion": _rule("bool"),
        "resourceName": _rule("string"),
        "version": _rule("int"),
        "versionTag": _rule("string"),
        "processDefinitionId": _rule("string", STRING_OPS),
        "tenantId": _rule("string"),
        "processDefinitionKey": _rule("key"),
        "hasStartForm": _rule("bool"),
    },
    sort=frozenset(
        {
            "processDefinitionKey",
            "name",
            "resourceName",
            "version",
            "versionTag",
            "processDefinitionId",
            "tenantId",
        }
    ),
    latest_sort=frozenset({"processDefinitionId", "tenantId"}),
    latest_paging=frozenset({"after"}),
)

_ELEMENTS_88 = SearchContract(
    filters={
        "processDefinitionId": _rule("string"),
        "state": _rule("enum", ENUM_OPS, ELEMENT_STATES),
        "type": _rule("enum", PLAIN, ELEMENT_TYPES),
        "elementId": _rule("string"),
        "elementName": _rule("string"),
        "hasIncident": _rule("bool"),
        "tenantId": _rule("string"),
        "elementInstanceKey": _rule("key"),
        "processInstanceKey": _rule("key"),
        "processDefinitionKey": _rule("key"),
        "incidentKey": _rule("key"),
        "startDate": _rule("date", DATE_OPS),
        "endDate": _rule("date", DATE_OPS),
        "elementInstanceScopeKey": _rule("key"),
    },
    sort=frozenset(
        {
            "elementInstanceKey",
            "processInstanceKey",
            "processDefinitionKey",
            "processDefinitionId",
            "startDate",
            "endDate",
            "elementId",
            "elementName",
            "type",
            "state",
            "incidentKey",
            "tenantId",
        }
    ),
)

_SUBSCRIPTION_FILTERS_88: dict[str, FieldRule] = {
    "messageSubscriptionKey": _rule("key", KEY_OPS),
    "processDefinitionId": _rule("string", STRING_OPS),
    "processInstanceKey": _rule("key", KEY_OPS),
    "elementId": _rule("string", STRING_OPS),
    "elementInstanceKey": _rule("key", KEY_OPS),
    "messageSubscriptionState": _rule("enum", ENUM_OPS, SUBSCRIPTION_STATES),
    "lastUpdatedDate": _rule("date", DATE_OPS),
    "messageName": _rule("string", STRING_OPS),
    "correlationKey": _rule("string", STRING_OPS),
    "tenantId": _rule("string", STRING_OPS),
}
_SUBSCRIPTIONS_88 = SearchContract(
    filters=_SUBSCRIPTION_FILTERS_88,
    sort=frozenset(
        {
            "messageSubscriptionKey",
            "processDefinitionId",
            "processInstanceKey",
            "elementId",
            "elementInstanceKey",
            "messageSubscriptionState",
            "lastUpdatedDate",
            "messageName",
            "correlationKey",
            "tenantId",
        }
    ),
)

_VARIABLES_88 = SearchContract(
    filters={
        "name": _rule("string", STRING_OPS),
        "value": _rule("string", STRING_OPS),
        "tenantId": _rule("string"),
        "isTruncated": _rule("bool"),
        "variableKey": _rule("key", KEY_OPS),
        "scopeKey": _rule("key", KEY_OPS),
        "processInstanceKey": _rule("key", KEY_OPS),
    },
    sort=frozenset({"value", "name", "tenantId", "variableKey", "scopeKey", "processInstanceKey"}),
)

_PROCESS_INSTANCES_88 = SearchContract(
    filters={
        "processDefinitionId": _rule("string", STRING_OPS),
        "processDefinitionName": _rule("string", STRING_OPS),
        "processDefinitionVersion": _rule("int", INT_OPS),
        "processDefinitionVersionTag": _rule("string", STRING_OPS),
        "processDefinitionKey": _rule("key", KEY_OPS),
        "processInstanceKey": _rule("key", KEY_OPS),
        "parentProcessInstanceKey": _rule("key", KEY_OPS),
        "parentElementInstanceKey": _rule("key", KEY_OPS),
        "startDate": _rule("date", DATE_OPS),
        "endDate": _rule("date", DATE_OPS),
        "state": _rule("enum", ENUM_OPS, PROCESS_INSTANCE_STATES),
        "hasIncident": _rule("bool"),
        "tenantId": _rule("string", STRING_OPS),
    },
    sort=frozenset(
        {
            "processInstanceKey",
            "processDefinitionId",
            "processDefinitionName",
            "processDefinitionVersion",
            "processDefinitionVersionTag",
            "processDefinitionKey",
            "parentProcessInstanceKey",
            "parentElementInstanceKey",
            "startDate",
            "endDate",
            "state",
            "hasIncident",
            "tenantId",
        }
    ),
)

_INCIDENTS_88 = SearchContract(
    filters={
        "processDefinitionId": _rule("string"),
        "errorType": _rule("enum", PLAIN, INCIDENT_ERROR_TYPES),
        "errorMessage": _rule("string"),
        "elementId": _rule("string"),
        "creationTime": _rule("date", DATE_OPS),
        "state": _rule("enum", PLAIN, INCIDENT_STATES),
        "tenantId": _rule("string"),
        "incidentKey": _rule("key"),
        "processDefinitionKey": _rule("key"),
        "processInstanceKey": _rule("key"),
        "elementInstanceKey": _rule("key"),
        "jobKey": _rule("key"),
    },
    sort=frozenset(
        {
            "incidentKey",
            "processInstanceKey",
            "processDefinitionKey",
            "processDefinitionId",
            "errorType",
            "elementId",
            "elementInstanceKey",
            "creationTime",
            "state",
            "jobKey",
            "tenantId",
        }
    ),
)

# ---------------------------------------------------------------------------- 8.9

_DEFINITIONS_89 = SearchContract(
    filters={
        **_DEFINITIONS_88.filters,
        "state": _rule("enum", PLAIN, DEFINITION_STATES),
    },
    sort=_DEFINITIONS_88.sort,
    latest_sort=_DEFINITIONS_88.latest_sort,
    latest_paging=_DEFINITIONS_88.latest_paging,
)
_SUBSCRIPTIONS_89 = SearchContract(
    filters={**_SUBSCRIPTION_FILTERS_88, "processDefinitionKey": _rule("key", KEY_OPS)},
    sort=_SUBSCRIPTIONS_88.sort,
)

_INCIDENTS_89 = SearchContract(
    filters={
        "processDefinitionId": _rule("string", STRING_OPS),
        "errorType": _rule("enum", ENUM_OPS, INCIDENT_ERROR_TYPES),
        "errorMessage": _rule("string", STRING_OPS),
        "elementId": _rule("string", STRING_OPS),
        "creationTime": _rule("date", DATE_OPS),
        "state": _rule("enum", ENUM_OPS, INCIDENT_STATES),
        "tenantId": _rule("string", STRING_OPS),
        "incidentKey": _rule("key", KEY_OPS),
        "processDefinitionKey": _rule("key", KEY_OPS),
        "processInstanceKey": _rule("key", KEY_OPS),
        "elementInstanceKey": _rule("key", KEY_OPS),
        "jobKey": _rule("key", KEY_OPS),
    },
    sort=_INCIDENTS_88.sort,
)

SEARCH_CONTRACTS: Mapping[str, Mapping[str, SearchContract]] = {
    "8.8": {
        "/v2/process-definitions/search": _DEFINITIONS_88,
        "/v2/element-instances/search": _ELEMENTS_88,
        "/v2/message-subscriptions/search": _SUBSCRIPTIONS_88,
        "/v2/variables/search": _VARIABLES_88,
        "/v2/process-instances/search": _PROCESS_INSTANCES_88,
        "/v2/incidents/search": _INCIDENTS_88,
    },
    "8.9": {
        "/v2/process-definitions/search": _DEFINITIONS_89,
        "/v2/element-instances/search": _ELEMENTS_88,
        "/v2/message-subscriptions/search": _SUBSCRIPTIONS_89,
        "/v2/variables/search": _VARIABLES_88,
        "/v2/process-instances/search": _PROCESS_INSTANCES_88,
        "/v2/incidents/search": _INCIDENTS_89,
    },
}

# 8.9 items carry these fields (required, possibly null) that 8.8 does not have: ROOT_KEY
# stands for the item's root process instance key, anything else is the constant sent.
ROOT_KEY = "root_process_instance_key"
_ROOT = ROOT_KEY
VERSION_TRAITS: Mapping[str, VersionTraits] = {
    "8.8": VersionTraits(gateway_version="8.8.21", nulls=False),
    "8.9": VersionTraits(
        gateway_version="8.9.0",
        nulls=True,
        extra_fields={
            "processDefinition": {"state": "ACTIVE"},
            "processInstance": {"rootProcessInstanceKey": _ROOT, "tags": [], "businessId": None},
            "elementInstance": {"rootProcessInstanceKey": _ROOT},
            "messageSubscription": {"rootProcessInstanceKey": _ROOT},
            "incident": {"rootProcessInstanceKey": _ROOT},
            "variable": {"rootProcessInstanceKey": _ROOT},
            "createdInstance": {"tags": [], "businessId": None},
        },
        topology_cluster_id=True,
    ),
}


def contract_for(version: str, path: str) -> SearchContract | None:
    return SEARCH_CONTRACTS.get(version, {}).get(path)


# ---------------------------------------------------------------------------- validation


class ContractViolation(Exception):
    """A request outside the contract; ``property`` is the JSON path Camunda names."""

    def __init__(self, property_: str, detail: str, *, parse: bool = True) -> None:
        super().__init__(detail)
        self.property = property_
        self.detail = detail
        #: True: Camunda cannot even read the request ("cannot be parsed", title Bad Request);
        #: False: readable but refused by validation (title INVALID_ARGUMENT).
        self.parse = parse


def _check_value(rule: FieldRule, value: Any, where: str) -> None:
    ok: bool
    if rule.kind in ("string", "date"):
        ok = isinstance(value, str)
    elif rule.kind == "enum":
        ok = isinstance(value, str) and value in rule.values
    elif rule.kind == "key":
        ok = isinstance(value, str) and _is_key(value)
    elif rule.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, bool)
    if not ok:
        raise ContractViolation(where, f"{value!r} is not a valid {rule.kind} value")


def _is_key(text: str) -> bool:
    body = text[1:] if text.startswith("-") else text
    return 1 <= len(text) <= 25 and body.isdigit() and body.isascii()


def check_filter(contract: SearchContract, raw: Any) -> None:
    """Raise :class:`ContractViolation` for the first filter property the version refuses."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ContractViolation("filter", "the filter must be an object")
    for name, condition in raw.items():
        where = f"filter.{name}"
        rule = contract.filters.get(name)
        if rule is None:
            raise ContractViolation(where, f"unknown filter property {name!r}")
        if isinstance(condition, dict):
            if not rule.operators:
                raise ContractViolation(where, f"{name!r} takes only a plain value")
            for operator, operand in condition.items():
                if operator not in rule.operators:
                    raise ContractViolation(where, f"operator {operator!r} not allowed on {name!r}")
                if operator == "$exists":
                    if not isinstance(operand, bool):
                        raise ContractViolation(where, "$exists takes a boolean")
                elif operator in ("$in", "$notIn"):
                    if not isinstance(operand, list):
                        raise ContractViolation(where, f"{operator} takes an array")
                    for member in operand:
                        _check_value(rule, member, where)
                elif operator == "$like":
                    if not isinstance(operand, str):
                        raise ContractViolation(where, "$like takes a string")
                else:
                    _check_value(rule, operand, where)
        else:
            _check_value(rule, condition, where)


def check_sort(contract: SearchContract, raw: Any, latest: bool) -> None:
    if raw is None:
        return
    if not isinstance(raw, list):
        raise ContractViolation("sort", "the sort must be an array")
    allowed = contract.latest_sort if latest and contract.latest_sort is not None else None
    for index, entry in enumerate(raw):
        where = f"sort[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"field", "order"}:
            raise ContractViolation(where, "a sort entry has only field and order")
        name = entry.get("field")
        if not isinstance(name, str) or name not in contract.sort:
            raise ContractViolation(f"{where}.field", f"{name!r} is not a sort field")
        order = entry.get("order", "ASC")
        if order not in ("ASC", "DESC"):  # the spec's enum; no case folding assumed
            raise ContractViolation(f"{where}.order", f"{order!r} is not a sort order")
        if allowed is not None and name not in allowed:
            raise ContractViolation(
                f"{where}.field",
                "with isLatestVersion the sort is limited to the fields "
                + ", ".join(sorted(allowed))
                + f"; got {name!r}",
                parse=False,
            )


def page_mode(raw: Any) -> str:
    """``offset``, ``after`` or ``before``; raises for a page no version reads."""
    if raw is None:
        return "offset"
    if not isinstance(raw, dict):
        raise ContractViolation("page", "the page must be an object")
    unknown = set(raw) - {"limit", "from", "after", "before"}
    if unknown:
        raise ContractViolation(f"page.{sorted(unknown)[0]}", "unknown page property")
    modes = [name for name in ("from", "after", "before") if name in raw]
    if len(modes) > 1:
        raise ContractViolation("page", f"only one of from, after, before; got {modes}")
    return {"from": "offset", "after": "after", "before": "before"}[modes[0]] if modes else "offset"


def check_page(contract: SearchContract, raw: Any, latest: bool) -> None:
    mode = page_mode(raw)
    allowed = contract.paging
    if latest and contract.latest_paging is not None:
        allowed = contract.latest_paging
        # A first page has no cursor yet: {limit} (and {from: 0, limit}, which the official
        # 8.8 client fills in by default) is the start of forward paging. Camunda ignores any
        # other `from`/`before` here; refusing them keeps wrong pages from going unnoticed.
        if mode == "offset" and (not isinstance(raw, dict) or raw.get("from", 0) == 0):
            return
    if mode not in allowed:
        raise ContractViolation(
            "page",
            "with isLatestVersion only forward cursor paging (after, limit) is supported"
            if latest
            else f"paging mode {mode!r} is not supported",
            parse=False,
        )


def check_search(contract: SearchContract, body: Any) -> None:
    """Raise :class:`ContractViolation` if a version refuses this search request body."""
    if body is None:
        return
    if not isinstance(body, dict):
        raise ContractViolation("body", "the request must be a JSON object")
    unknown = set(body) - {"filter", "sort", "page"}
    if unknown:
        raise ContractViolation(sorted(unknown)[0], "unknown request property")
    check_filter(contract, body.get("filter"))
    raw_filter = body.get("filter") or {}
    latest = contract.latest_sort is not None and raw_filter.get("isLatestVersion") is True
    check_sort(contract, body.get("sort"), latest)
    check_page(contract, body.get("page"), latest)


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.strip().lower(), quality))
    return ranges


def acceptable(accept: str | None, produces: str) -> bool:
    """Whether an ``Accept`` header admits the endpoint's media type (Camunda answers 406
    otherwise: its controllers produce one type each)."""
    if not accept or not accept.strip():
        return True
    kind = produces.split("/")[0]
    for media, quality in _media_ranges(accept):
        if quality <= 0:
            continue
        if media in ("*/*", f"{kind}/*", produces):
            return True
        if produces == "application/json" and media.endswith("+json"):
            return True  # e.g. application/problem+json or vendor JSON types
    return False


def request_violations(
    version: str, method: str, path: str, body: Any, accept: str | None = None
) -> list[str]:
    """Why a version refuses a request (empty: accepted); for recorded worker requests."""
    produces = "text/xml" if method == "GET" and path.endswith("/xml") else "application/json"
    if not acceptable(accept, produces):
        return [f"{version} {method} {path}: Accept {accept!r} excludes {produces} (406)"]
    if method == "POST" and path.endswith("/search"):
        contract = contract_for(version, path)
        if contract is None:
            return [f"{version}: no search endpoint {path}"]
        try:
            check_search(contract, body)
        except ContractViolation as violation:
            return [f"{version} {path}: {violation.property}: {violation.detail}"]
    return []
