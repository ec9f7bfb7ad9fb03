"""Multi-tenancy end to end: the same process deployed to two tenants, one instance in each
with the same correlation key; the worker serves both, and each message is published to its
instance's tenant, never correlating the other tenant's instance."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connector.config import ConfigError, load_settings
from connector.devengine.contract import VERSIONS
from connector.devengine.server import DevEngine, DevEngineOptions
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.harness import Endpoint, WorkerProcess, serve_endpoint, until

URL = '=base + "/items/" + id'
TENANTS = ("tenant-a", "tenant-b")


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    yield from serve_endpoint()


@pytest.mark.parametrize("version", VERSIONS)
def test_each_tenant_gets_its_own_message(version: str, endpoint: Endpoint) -> None:
    with DevEngine.run_in_thread(options=DevEngineOptions(camunda_version=version)) as dev:
        xml = catch_process("shared", polling_properties(URL)).encode()
        keys = {
            t: dev.engine.deploy([("p.bpmn", xml)], t).processes[0].process_definition_key
            for t in TENANTS
        }
        assert keys["tenant-a"] != keys["tenant-b"]
        # the same item id, hence the same correlation key, in both tenants; each tenant's
        # instance polls its own URL so that one can be made ready before the other
        instances = {
            tenant: dev.engine.create_process_instance(
                "shared",
                variables={"base": f"{endpoint.url}/{tenant}", "id": "x"},
                tenant_id=tenant,
            ).process_instance_key
            for tenant in TENANTS
        }
        for tenant in TENANTS:
            endpoint.set(f"/{tenant}/items/x", {"id": "x", "status": "waiting"})

        def state(tenant: str) -> str:
            return dev.engine.process_instances(key=instances[tenant])[0].state

        worker = WorkerProcess(dev.grpc_address, dev.rest_url)
        try:
            until(lambda: len(worker.poller_keys()) == 2, what="a poller per tenant", timeout=30)
            endpoint.set("/tenant-a/items/x", {"id": "x", "status": "done"})
            until(lambda: state("tenant-a") == "COMPLETED", what="tenant-a done", timeout=30)
            # the message of tenant-a (same name, same correlation key) left tenant-b waiting
            assert state("tenant-b") == "ACTIVE"
            assert dev.engine.message_subscriptions(process_instance_key=instances["tenant-b"])
            until(lambda: len(worker.poller_keys()) == 1, what="tenant-a's poller removed")
            endpoint.set("/tenant-b/items/x", {"id": "x", "status": "done"})
            until(lambda: state("tenant-b") == "COMPLETED", what="tenant-b done", timeout=30)
            # the worker logs the correlation after the publish returns: wait for the line
            until(lambda: len(worker.logs("correlated")) == 2, what="both correlations logged")
            correlated = worker.logs("correlated")
            assert sorted(r["process_instance_key"] for r in correlated) == sorted(
                str(k) for k in instances.values()
            )
        finally:
            assert worker.stop() == 0
        for tenant, key in instances.items():
            [instance] = dev.engine.process_instances(key=key)
            assert instance.tenant_id == tenant
            values = {
                v.name: json.loads(v.value) for v in dev.engine.variables(process_instance_key=key)
            }
            assert values["result"] == "done"


def test_worker_serves_only_the_configured_tenants(endpoint: Endpoint) -> None:
    with DevEngine.run_in_thread() as dev:
        xml = catch_process("shared", polling_properties(URL)).encode()
        instances = {}
        for tenant in TENANTS:
            dev.engine.deploy([("p.bpmn", xml)], tenant)
            endpoint.set(f"/{tenant}/items/x", {"id": "x", "status": "waiting"})
            instances[tenant] = dev.engine.create_process_instance(
                "shared",
                variables={"base": f"{endpoint.url}/{tenant}", "id": "x"},
                tenant_id=tenant,
            ).process_instance_key
        worker = WorkerProcess(dev.grpc_address, dev.rest_url, "--tenant-ids", "tenant-a")
        try:
            until(lambda: len(endpoint.hits_for("/tenant-a/items/x")) >= 2, what="a polled")
            # both instances were there before the first discovery: b is not served
            assert endpoint.hits_for("/tenant-b/items/x") == []
            assert len(worker.poller_keys()) == 1
            endpoint.set("/tenant-a/items/x", {"id": "x", "status": "done"})
            until(
                lambda: (
                    dev.engine.process_instances(key=instances["tenant-a"])[0].state == "COMPLETED"
                ),
                what="tenant-a done",
                timeout=30,
            )
        finally:
            assert worker.stop() == 0
        assert dev.engine.process_instances(key=instances["tenant-b"])[0].state == "ACTIVE"


def test_tenant_ids_are_validated() -> None:
    settings = load_settings({"tenant_ids": "tenant-a, <default>"}, env={})
    assert settings.tenants == ("tenant-a", "<default>")
    with pytest.raises(ConfigError, match="--tenant-ids / CONNECTOR_TENANT_IDS: 'bad tenant'"):
        load_settings({"tenant_ids": "ok,bad tenant"}, env={})
