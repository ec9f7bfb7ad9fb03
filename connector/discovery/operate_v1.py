"""The Operate API v1 source for Camunda 8.6/8.7 clusters.

All definitions, ACTIVE flow-node instances per polling element, variables per process
instance.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

from connector.discovery.cluster import JsonObject, RestClient, optional_int
from connector.discovery.model import Definition, DefinitionRef, VariableRow, WaitingRow


class OperateV1Source:
    """Operate API v1 (Camunda 8.6/8.7; deprecated in 8.8, removed in 8.10).

    Operate has no message-subscription search: waiting instances are the ACTIVE flow-node
    instances of each polling element (of the attached activity for boundary events), and
    the subscription's correlation key is not available.
    """

    def __init__(self, client: RestClient, page_size: int = 500) -> None:
        self.client = client
        self.page_size = page_size

    @property
    def requests_made(self) -> int:
        return self.client.requests

    def _search(self, path: str, filter_: JsonObject) -> Iterator[JsonObject]:
        body: JsonObject = {
            "filter": filter_,
            "size": self.page_size,
            "sort": [{"field": "key", "order": "ASC"}],
        }
        while True:
            data = self.client.post(path, body)
            items = data.get("items") or []
            yield from items
            sort_values = data.get("sortValues")
            if len(items) < self.page_size or not sort_values:
                return
            body = {**body, "searchAfter": sort_values}

    def definitions(self) -> list[DefinitionRef]:
        # Every version: older versions with waiting instances must be served too, and
        # Operate cannot tell which ones have open subscriptions.
        return [
            DefinitionRef(
                key=int(item["key"]),
                process_id=str(item.get("bpmnProcessId") or ""),
                version=optional_int(item.get("version")),
                tenant_id=item.get("tenantId"),
            )
            for item in self._search("/v1/process-definitions/search", {})
        ]

    def xml(self, key: int) -> str | None:
        return self.client.get_text(f"/v1/process-definitions/{key}/xml")

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        for key, definition in definitions.items():
            for config in definition.configs.values():
                node = config.attached_to if config.kind == "boundary" else config.element_id
                filter_ = {"processDefinitionKey": key, "flowNodeId": node, "state": "ACTIVE"}
                for item in self._search("/v1/flownode-instances/search", filter_):
                    yield WaitingRow(
                        element_instance_key=int(item["key"]),
                        process_instance_key=int(item["processInstanceKey"]),
                        process_definition_key=key,
                        element_id=config.element_id,
                        message_name=config.message_name,
                        correlation_key=None,
                        tenant_id=item.get("tenantId"),
                    )

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        # Operate v1 filters are exact matches only: one search per instance, and the
        # names are filtered here (a search per name would multiply the requests).
        rows: list[VariableRow] = []
        for pik in process_instance_keys:
            for item in self._search("/v1/variables/search", {"processInstanceKey": pik}):
                if names is not None and str(item["name"]) not in names:
                    continue
                rows.append(
                    VariableRow(
                        key=int(item["key"]),
                        name=str(item["name"]),
                        value=str(item.get("value")),
                        scope_key=int(item["scopeKey"]),
                        process_instance_key=int(item["processInstanceKey"]),
                        truncated=bool(item.get("truncated")),
                    )
                )
        return rows

    def variable_value(self, variable_key: int) -> str | None:
        data = self.client.get_json(f"/v1/variables/{variable_key}")
        return None if not isinstance(data, dict) else str(data.get("value"))

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        found: dict[tuple[int, str], int] = {}
        for pik in process_instance_keys:
            for element_id in element_ids:
                filter_ = {"processInstanceKey": pik, "flowNodeId": element_id, "state": "ACTIVE"}
                for item in self._search("/v1/flownode-instances/search", filter_):
                    found[(pik, element_id)] = int(item["key"])
        return found
