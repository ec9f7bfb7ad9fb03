"""The Orchestration Cluster REST API v2 source (Camunda 8.8+).

Latest process definitions (``isLatestVersion``), open message subscriptions (``CREATED``;
they carry the element instance key and the engine-evaluated correlation key, boundary
events included), variables by batches of process instances (``$in``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from connector.discovery.cluster import (
    ClusterError,
    JsonObject,
    RestClient,
    optional_int,
    parse_release,
)
from connector.discovery.model import Definition, DefinitionRef, VariableRow, WaitingRow
from connector.observability import log_event

log = logging.getLogger(__name__)

# The first release whose REST API v2 has every search the REST source uses.
MIN_REST_V2_RELEASE = (8, 8)

SUBSCRIPTIONS = "/v2/message-subscriptions/search"
DEFINITIONS = "/v2/process-definitions/search"
#: states of a subscription that is still waiting for its message (Zeebe keeps a migrated
#: instance's subscription, now at the target definition's element)
OPEN_STATES = ("CREATED", "MIGRATED")


def definition_ref(item: Mapping[str, Any]) -> DefinitionRef:
    """A process-definition search item as a reference."""
    return DefinitionRef(
        key=int(item["processDefinitionKey"]),
        process_id=str(item.get("processDefinitionId") or ""),
        version=optional_int(item.get("version")),
        tenant_id=item.get("tenantId"),
    )


def waiting_row(item: Mapping[str, Any]) -> WaitingRow:
    """A message-subscription search item as a row; KeyError, TypeError or ValueError when
    a field the worker needs is missing."""
    return WaitingRow(
        element_instance_key=int(item["elementInstanceKey"]),
        process_instance_key=int(item["processInstanceKey"]),
        process_definition_key=int(item["processDefinitionKey"]),
        element_id=str(item["elementId"]),
        message_name=item.get("messageName"),
        correlation_key=item.get("correlationKey"),
        tenant_id=item.get("tenantId"),
    )


class RestV2Source:
    """Orchestration Cluster REST API v2 (Camunda 8.8+)."""

    def __init__(
        self, client: RestClient, page_size: int = 500, tenant_ids: Sequence[str] = ()
    ) -> None:
        self.client = client
        self.page_size = page_size
        #: with multi-tenancy, only these tenants' definitions and waits (empty = all visible)
        self.tenant_ids = tuple(tenant_ids)
        self.cluster_version: str | None = None
        self._version_checked = False

    @property
    def requests_made(self) -> int:
        return self.client.requests

    def search(
        self, path: str, filter_: JsonObject, sort: list[JsonObject]
    ) -> Iterator[JsonObject]:
        """Every item of a search, page by page with the ``after`` cursor."""
        body: JsonObject = {"filter": filter_, "sort": sort, "page": {"limit": self.page_size}}
        seen = 0
        while True:
            data = self.client.post(path, body)
            items = data.get("items") or []
            yield from items
            seen += len(items)
            page = data.get("page") or {}
            cursor = page.get("endCursor")
            if len(items) < self.page_size or not cursor:
                return
            total = page.get("totalItems")
            if isinstance(total, int) and seen >= total and not page.get("hasMoreTotalItems"):
                return  # saves the empty page a full last page would otherwise cost
            body = {**body, "page": {"limit": self.page_size, "after": cursor}}

    def check_version(self) -> str | None:
        """The cluster's version from ``/v2/topology`` (read once, logged); raises a permanent
        :class:`ClusterError` naming the fix when the cluster predates the 8.8 search API."""
        if not self._version_checked:
            data = self.client.get_json("/v2/topology")
            version = data.get("gatewayVersion") if isinstance(data, dict) else None
            self.cluster_version = str(version) if version else None
            self._version_checked = True
            log_event(log, "cluster version", version=self.cluster_version or "unknown")
        release = parse_release(self.cluster_version)
        if release is not None and release < MIN_REST_V2_RELEASE:
            # Every cycle fails the same way (the worker logs it once) until reconfigured.
            raise ClusterError(
                f"the cluster runs Camunda {self.cluster_version}, older than 8.8: its REST API "
                "has no message-subscription search. Set CONNECTOR_DISCOVERY_SOURCE=operate "
                "(--discovery-source operate) and CONNECTOR_OPERATE_URL if Operate is not "
                "served at the REST address",
                transient=False,
            )
        return self.cluster_version

    def definitions(self) -> list[DefinitionRef]:
        self.check_version()
        # With isLatestVersion Camunda 8.8.x (since the 2026 backport) and 8.9 allow only
        # these sort fields and forward cursor paging; 8.8.0 accepts them too.
        sort = [
            {"field": "processDefinitionId", "order": "ASC"},
            {"field": "tenantId", "order": "ASC"},
        ]
        # The definition filter takes one plain tenantId: one search per configured tenant.
        filters: list[JsonObject] = [
            {"isLatestVersion": True, "tenantId": tenant} for tenant in self.tenant_ids
        ] or [{"isLatestVersion": True}]
        return [
            definition_ref(item)
            for filter_ in filters
            for item in self.search(DEFINITIONS, filter_, sort)
        ]

    def xml(self, key: int) -> str | None:
        # The XML endpoint produces only text/xml (problems as application/problem+json);
        # asking for JSON is answered with 406 by Camunda.
        return self.client.get_text(
            f"/v2/process-definitions/{key}/xml", accept="text/xml, application/problem+json"
        )

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        sort = [{"field": "messageSubscriptionKey", "order": "ASC"}]
        filter_: JsonObject = {"messageSubscriptionState": {"$in": list(OPEN_STATES)}}
        if self.tenant_ids:
            filter_["tenantId"] = {"$in": list(self.tenant_ids)}
        for item in self.search(SUBSCRIPTIONS, filter_, sort):
            try:
                yield waiting_row(item)
            except (KeyError, TypeError, ValueError):
                log.debug("skipping incomplete message subscription %r", item)

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        filter_: JsonObject = {
            "processInstanceKey": {"$in": [str(k) for k in process_instance_keys]}
        }
        if names is not None:
            # Only what the expressions read: fewer rows, fewer pages, fewer truncated
            # values to fetch one by one.
            filter_["name"] = {"$in": sorted(names)}
        sort = [{"field": "variableKey", "order": "ASC"}]
        return [
            VariableRow(
                key=int(item["variableKey"]),
                name=str(item["name"]),
                value=str(item.get("value")),
                scope_key=int(item["scopeKey"]),
                process_instance_key=int(item["processInstanceKey"]),
                truncated=bool(item.get("isTruncated")),
            )
            for item in self.search("/v2/variables/search", filter_, sort)
        ]

    def variable_value(self, variable_key: int) -> str | None:
        data = self.client.get_json(f"/v2/variables/{variable_key}")
        return None if not isinstance(data, dict) else str(data.get("value"))

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        # The element-instance filter takes only plain values for keys and element ids in
        # 8.8 and 8.9 (no `$in`): one search per instance and sub-process (usually one).
        sort = [{"field": "elementInstanceKey", "order": "ASC"}]
        found: dict[tuple[int, str], int] = {}
        for pik in process_instance_keys:
            for element_id in element_ids:
                filter_ = {
                    "processInstanceKey": str(pik),
                    "elementId": element_id,
                    "state": "ACTIVE",
                }
                for item in self.search("/v2/element-instances/search", filter_, sort):
                    found[(int(item["processInstanceKey"]), str(item["elementId"]))] = int(
                        item["elementInstanceKey"]
                    )
        return found
