"""Orchestration Cluster REST API v2 (Camunda 8.8 shapes) served over the development engine.

A small stdlib HTTP server (one thread per connection) in front of ``Engine``. It follows the
8.8 conventions: JSON bodies with camelCase fields, keys as strings, RFC 3339 dates, searches
``{filter, sort, page}`` answered with ``{items, page: {totalItems, hasMoreTotalItems,
startCursor, endCursor}}``, and RFC 9457 problem documents for errors.

This module is the API (routes and handlers, independent of the transport). The search
machinery (filter operators, sorting, offset and cursor paging) is generic and lives in
``rest_query``; ``rest_search`` declares each endpoint's fields and how one record turns into a
JSON item; ``rest_server`` serves the API over HTTP.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
)
from .rest_query import (
    DEFAULT_TOTAL_ITEMS_CAP,
    DEFAULT_TRUNCATION_LIMIT,
    ApiError,
    Json,
    JsonObject,
    api_error_from_engine,
    parse_date,
    parse_key,
    problem_document,
    violation_error,
)
from .rest_search import (
    ELEMENT_INSTANCE_FIELDS,
    ELEMENT_INSTANCE_SORT,
    INCIDENT_FIELDS,
    INCIDENT_SORT,
    MESSAGE_SUBSCRIPTION_FIELDS,
    PROCESS_DEFINITION_FIELDS,
    PROCESS_DEFINITION_SORT,
    PROCESS_INSTANCE_FIELDS,
    VARIABLE_FIELDS,
    VARIABLE_SORT,
    SearchEndpoint,
    element_instance_item,
    incident_item,
    message_subscription_item,
    process_definition_item,
    process_instance_item,
    record_key,
    search,
    variable_item,
    variable_result,
)

__all__ = [
    "DEFAULT_TOTAL_ITEMS_CAP",
    "DEFAULT_TRUNCATION_LIMIT",
    "ApiError",
    "AuthConfig",
    "Request",
    "Response",
    "RestApi",
]

log = logging.getLogger(__name__)


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

    def _search(self, request: Request, endpoint: SearchEndpoint[Any], kind: str) -> Response:
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
            record_key=record_key,
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
            record_key=record_key,
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
            record_key=record_key,
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
            record_key=record_key,
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
            record_key=record_key,
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
            record_key=record_key,
            to_item=lambda record: variable_item(record, limit),
        )
        return self._search(request, endpoint, "variable")

    def get_variable(self, request: Request) -> Response:
        key = parse_key(request.params["key"], "variableKey")
        return Response(200, self._shape("variable", variable_result(self.engine.variable(key))))
