"""The dev engine's gRPC gateway driven by an unchanged pyzeebe ZeebeClient / ZeebeWorker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyzeebe import Job, ZeebeWorker
from pyzeebe.errors import (
    MessageAlreadyExistsError,
    ProcessDefinitionNotFoundError,
    ProcessInstanceNotFoundError,
    ProcessInvalidError,
    ProcessTimeoutError,
    ZeebeBackPressureError,
)
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto.gateway_pb2_grpc import GatewayStub

from connector.devengine.server import DevEngine, DevEngineOptions

from .conftest import (
    message_catch_process,
    message_start_process,
    rest_search,
    run,
    service_task_process,
    timer_process,
    unsupported_element_process,
    wait_until,
    zeebe,
)

BpmnFile = Callable[[str, str], str]


def active_at(dev: DevEngine, element_id: str) -> list[dict[str, Any]]:
    body = {"filter": {"elementId": element_id, "state": "ACTIVE"}}
    items: list[dict[str, Any]] = rest_search(dev, "element-instances", body)["items"]
    return items


# ---------------------------------------------------------------- cluster


def test_topology_reports_one_healthy_leader_on_the_bound_port(dev: DevEngine) -> None:
    async def scenario() -> Any:
        async with zeebe(dev) as (client, _):
            return await client.topology()

    topology = run(scenario())
    assert topology.cluster_size == 1
    assert topology.partitions_count == 1
    assert topology.replication_factor == 1
    assert topology.gateway_version
    [broker] = topology.brokers
    assert broker.port == dev.grpc_port
    assert broker.host == "127.0.0.1"
    [partition] = broker.partitions
    assert partition.partition_id == 1
    assert partition.role.name == "LEADER"
    assert partition.health.name == "HEALTHY"


def test_health_check_is_serving_for_the_gateway_service(dev: DevEngine) -> None:
    async def scenario() -> tuple[Any, int]:
        async with zeebe(dev) as (client, channel):
            via_pyzeebe = await client.healthcheck()
            stub = health_pb2_grpc.HealthStub(channel)
            raw = await stub.Check(
                health_pb2.HealthCheckRequest(service="gateway_protocol.Gateway")
            )
            return via_pyzeebe, raw.status

    via_pyzeebe, raw_status = run(scenario())
    assert raw_status == health_pb2.HealthCheckResponse.SERVING
    assert via_pyzeebe.status == 1  # pyzeebe's HealthCheckResponse.ServingStatus.SERVING


# ---------------------------------------------------------------- deployment


def test_deploy_returns_process_metadata_and_versions_only_on_change(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    first = bpmn_file("double.bpmn", service_task_process())
    changed = bpmn_file("double-v2.bpmn", service_task_process(job_type="triple-it"))

    async def scenario() -> tuple[Any, Any, Any]:
        async with zeebe(dev) as (client, _):
            one = await client.deploy_resource(first)
            same = await client.deploy_resource(first)
            two = await client.deploy_resource(changed)
            return one, same, two

    one, same, two = run(scenario())
    [meta] = one.deployments
    assert meta.bpmn_process_id == "double-process"
    assert meta.version == 1
    assert meta.resource_name == "double.bpmn"
    assert meta.tenant_id == "<default>"
    assert meta.process_definition_key > 0
    assert same.deployments[0].version == 1
    assert same.deployments[0].process_definition_key == meta.process_definition_key
    assert two.deployments[0].version == 2
    assert two.deployments[0].process_definition_key != meta.process_definition_key


def test_invalid_bpmn_is_rejected_with_invalid_argument_naming_the_element(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("bad.bpmn", unsupported_element_process())

    async def scenario() -> None:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)

    with pytest.raises(ProcessInvalidError) as caught:
        run(scenario())
    cause = caught.value.__cause__
    assert isinstance(cause, grpc.aio.AioRpcError)
    assert cause.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "approveInvoice" in (cause.details() or "")


def test_non_bpmn_resource_is_rejected_naming_the_resource(dev: DevEngine) -> None:
    async def scenario() -> None:
        async with zeebe(dev) as (_, channel):
            request = pb.DeployResourceRequest(
                resources=[pb.Resource(name="notes.txt", content=b"hello")]
            )
            await GatewayStub(channel).DeployResource(request)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        run(scenario())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "notes.txt" in (caught.value.details() or "")


# ---------------------------------------------------------------- instances and jobs


def test_service_task_handled_by_a_zeebe_worker_with_io_mappings(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("double.bpmn", service_task_process())
    seen: dict[str, Any] = {}

    async def scenario() -> Any:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)

            # pyzeebe hands the Job to middleware; the task itself gets the fetched variables.
            def record(job: Job) -> Job:
                seen["headers"] = dict(job.custom_headers)
                seen["worker"] = job.worker
                seen["element"] = job.element_id
                seen["variables"] = dict(job.variables)
                return job

            worker = ZeebeWorker(channel, name="test-worker", before=[record])

            @worker.task(task_type="double-it")
            async def double(value: int) -> dict[str, Any]:
                return {"doubled": value * 2}

            working = asyncio.create_task(worker.work())
            try:
                return await client.run_process_with_result(
                    "double-process", {"x": 21}, timeout=10_000
                )
            finally:
                await worker.stop()
                await working

    result = run(scenario())
    assert result.variables["result"] == 42
    assert result.variables["x"] == 21
    # The input mapping is local to the task and the raw job result is replaced by the output
    # mapping: neither reaches the process scope.
    assert "value" not in result.variables
    assert "doubled" not in result.variables
    assert seen["headers"] == {"mode": "fast"}
    assert seen["worker"] == "test-worker"
    assert seen["element"] == "double"
    assert seen["variables"]["value"] == 21


def test_run_process_and_cancel_it(dev: DevEngine, bpmn_file: BpmnFile) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())

    async def scenario() -> Any:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            created = await client.run_process("wait-process", {"orderId": "o-1"})
            await client.cancel_process_instance(created.process_instance_key)
            with pytest.raises(ProcessInstanceNotFoundError):
                await client.cancel_process_instance(created.process_instance_key)
            return created

    created = run(scenario())
    assert created.bpmn_process_id == "wait-process"
    assert created.version == 1
    body = {"filter": {"processInstanceKey": str(created.process_instance_key)}}
    [instance] = rest_search(dev, "process-instances", body)["items"]
    assert instance["state"] == "TERMINATED"


def test_unknown_process_is_not_found(dev: DevEngine) -> None:
    async def scenario() -> None:
        async with zeebe(dev) as (client, _):
            await client.run_process("no-such-process")

    with pytest.raises(ProcessDefinitionNotFoundError) as caught:
        run(scenario())
    cause = caught.value.__cause__
    assert isinstance(cause, grpc.aio.AioRpcError)
    assert cause.code() == grpc.StatusCode.NOT_FOUND


def test_variables_that_are_not_a_json_object_are_invalid_argument(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())

    async def scenario(variables: str) -> None:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            request = pb.CreateProcessInstanceRequest(
                bpmnProcessId="wait-process", version=-1, variables=variables
            )
            await GatewayStub(channel).CreateProcessInstance(request)

    for bad in ("[1, 2]", "{not json"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            run(scenario(bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "variables" in (caught.value.details() or "")


def test_fail_job_with_retries_then_complete_via_raw_rpcs(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("double.bpmn", service_task_process())

    async def activate(stub: GatewayStub) -> list[pb.ActivatedJob]:
        request = pb.ActivateJobsRequest(
            type="double-it",
            worker="raw",
            timeout=30_000,
            maxJobsToActivate=5,
            requestTimeout=2_000,
        )
        return [job async for response in stub.ActivateJobs(request) for job in response.jobs]

    async def scenario() -> tuple[Any, Any, Any]:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            stub = GatewayStub(channel)
            created = await client.run_process("double-process", {"x": 1})
            [job] = await activate(stub)
            await stub.FailJob(pb.FailJobRequest(jobKey=job.key, retries=2, errorMessage="boom"))
            [again] = await activate(stub)
            await stub.UpdateJobRetries(pb.UpdateJobRetriesRequest(jobKey=again.key, retries=5))
            await stub.CompleteJob(
                pb.CompleteJobRequest(jobKey=again.key, variables=json.dumps({"doubled": 2}))
            )
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await stub.CompleteJob(pb.CompleteJobRequest(jobKey=again.key))
            return job, again, (created, gone.value.code())

    job, again, (created, gone_code) = run(scenario())
    assert job.key == again.key
    assert job.retries == 3
    assert again.retries == 2
    assert json.loads(job.customHeaders) == {"mode": "fast"}
    assert job.processInstanceKey == created.process_instance_key
    assert job.deadline > 0
    assert gone_code == grpc.StatusCode.NOT_FOUND
    body = {"filter": {"processInstanceKey": str(created.process_instance_key)}}
    [instance] = rest_search(dev, "process-instances", body)["items"]
    assert instance["state"] == "COMPLETED"


def test_activate_jobs_long_polls_until_a_job_appears(dev: DevEngine, bpmn_file: BpmnFile) -> None:
    path = bpmn_file("double.bpmn", service_task_process())

    def poll(stub: GatewayStub, request_timeout_ms: int) -> Any:
        request = pb.ActivateJobsRequest(
            type="double-it",
            worker="w",
            timeout=30_000,
            maxJobsToActivate=1,
            requestTimeout=request_timeout_ms,
        )
        return stub.ActivateJobs(request)

    async def collect(call: Any) -> list[pb.ActivatedJob]:
        return [job async for response in call for job in response.jobs]

    async def scenario() -> tuple[float, list[pb.ActivatedJob], float]:
        loop = asyncio.get_running_loop()
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            stub = GatewayStub(channel)
            started = loop.time()
            assert await collect(poll(stub, 300)) == []
            empty_wait = loop.time() - started
            started = loop.time()
            polling = asyncio.create_task(collect(poll(stub, 8_000)))
            await client.run_process("double-process", {"x": 3})
            jobs = await polling
            return empty_wait, jobs, loop.time() - started

    empty_wait, [job], job_wait = run(scenario())
    assert empty_wait >= 0.25  # the empty poll was held open for its requestTimeout
    assert job_wait < 5  # and an open poll is answered as soon as a job exists
    assert json.loads(job.variables)["x"] == 3


def test_stream_activated_jobs_pushes_jobs_to_a_streaming_worker(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("double.bpmn", service_task_process())

    async def scenario() -> list[pb.ActivatedJob]:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            request = pb.StreamActivatedJobsRequest(type="double-it", worker="s", timeout=30_000)
            call = GatewayStub(channel).StreamActivatedJobs(request)
            received: list[pb.ActivatedJob] = []
            await client.run_process("double-process", {"x": 5})
            await client.run_process("double-process", {"x": 6})
            async for job in call:
                received.append(job)
                if len(received) == 2:
                    call.cancel()
                    break
            return received

    jobs = run(scenario())
    assert sorted(json.loads(job.variables)["x"] for job in jobs) == [5, 6]
    assert all(job.worker == "s" for job in jobs)


# ---------------------------------------------------------------- messages


def test_published_message_correlates_to_the_waiting_catch_event(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())

    async def scenario() -> tuple[Any, Any]:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            created = await client.run_process("wait-process", {"orderId": "o-7"})
            published = await client.publish_message(
                "order-paid", "o-7", {"amount": 12.5}, time_to_live_in_milliseconds=0
            )
            return created, published

    created, published = run(scenario())
    assert published.key > 0
    assert published.tenant_id == "<default>"
    pi = str(created.process_instance_key)
    [instance] = rest_search(dev, "process-instances", {"filter": {"processInstanceKey": pi}})[
        "items"
    ]
    assert instance["state"] == "COMPLETED"
    variables = rest_search(dev, "variables", {"filter": {"processInstanceKey": pi}})["items"]
    assert {item["name"]: json.loads(item["value"]) for item in variables} == {
        "orderId": "o-7",
        "amount": 12.5,
    }


def test_duplicate_buffered_message_id_is_already_exists(dev: DevEngine) -> None:
    async def scenario() -> None:
        async with zeebe(dev) as (client, _):
            await client.publish_message(
                "m", "k", message_id="id-1", time_to_live_in_milliseconds=60_000
            )
            await client.publish_message(
                "m", "k", message_id="id-1", time_to_live_in_milliseconds=60_000
            )

    with pytest.raises(MessageAlreadyExistsError):
        run(scenario())


def test_message_start_event_creates_an_instance(dev: DevEngine, bpmn_file: BpmnFile) -> None:
    path = bpmn_file("start.bpmn", message_start_process())

    async def scenario() -> None:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            await client.publish_message("kick", "", {"ref": "r-1"})

    run(scenario())
    [waiting] = wait_until(lambda: active_at(dev, "hold"), what="instance started by message")
    assert waiting["processDefinitionId"] == "msg-start-process"


# ---------------------------------------------------------------- limits and unimplemented


def test_load_limit_answers_resource_exhausted(bpmn_file: BpmnFile) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())
    options = DevEngineOptions(max_active_instances=1, long_poll_ms=500)

    async def scenario(dev: DevEngine) -> None:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            await client.run_process("wait-process", {"orderId": "a"})
            with pytest.raises(ZeebeBackPressureError):
                await client.run_process("wait-process", {"orderId": "b"})

    with DevEngine.run_in_thread(options=options) as dev:
        run(scenario(dev))


def test_rpcs_without_engine_support_answer_unimplemented(dev: DevEngine) -> None:
    async def scenario() -> None:
        async with zeebe(dev) as (_, channel):
            await GatewayStub(channel).BroadcastSignal(pb.BroadcastSignalRequest(signalName="s"))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        run(scenario())
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "BroadcastSignal" in (caught.value.details() or "")


# ---------------------------------------------------------------- more commands


def test_job_incident_is_resolved_after_retries_are_updated(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("double.bpmn", service_task_process())

    async def activate(stub: GatewayStub) -> list[pb.ActivatedJob]:
        request = pb.ActivateJobsRequest(
            type="double-it", worker="raw", timeout=30_000, maxJobsToActivate=5, requestTimeout=-1
        )
        return [job async for response in stub.ActivateJobs(request) for job in response.jobs]

    async def scenario() -> tuple[int, list[dict[str, Any]], list[pb.ActivatedJob]]:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            stub = GatewayStub(channel)
            created = await client.run_process("double-process", {"x": 1})
            [job] = await activate(stub)
            await stub.FailJob(pb.FailJobRequest(jobKey=job.key, retries=0, errorMessage="down"))
            assert await activate(stub) == []  # an incident, not a retry
            pi = str(created.process_instance_key)
            elements = rest_search(
                dev,
                "element-instances",
                {"filter": {"processInstanceKey": pi, "elementId": "double"}},
            )["items"]
            await stub.UpdateJobRetries(pb.UpdateJobRetriesRequest(jobKey=job.key, retries=1))
            incident_key = int(elements[0]["incidentKey"])
            await stub.ResolveIncident(pb.ResolveIncidentRequest(incidentKey=incident_key))
            return job.key, elements, await activate(stub)

    job_key, elements, reactivated = run(scenario())
    [element] = elements
    assert element["hasIncident"] is True
    assert element["incidentKey"] is not None
    [again] = reactivated
    assert again.key == job_key
    assert again.retries == 1


def test_throw_error_without_a_catching_boundary_raises_an_incident(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("double.bpmn", service_task_process())

    async def scenario() -> str:
        async with zeebe(dev) as (client, channel):
            await client.deploy_resource(path)
            stub = GatewayStub(channel)
            created = await client.run_process("double-process", {"x": 1})
            request = pb.ActivateJobsRequest(
                type="double-it", worker="raw", timeout=30_000, maxJobsToActivate=1
            )
            [job] = [j async for response in stub.ActivateJobs(request) for j in response.jobs]
            await stub.ThrowError(pb.ThrowErrorRequest(jobKey=job.key, errorCode="NOPE"))
            return str(created.process_instance_key)

    pi = run(scenario())
    [element] = rest_search(
        dev, "element-instances", {"filter": {"processInstanceKey": pi, "elementId": "double"}}
    )["items"]
    assert element["hasIncident"] is True
    assert element["state"] == "ACTIVE"


def test_create_by_definition_key_and_explicit_version_then_set_variables(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    v1 = bpmn_file("wait.bpmn", message_catch_process())
    v2 = bpmn_file("wait2.bpmn", message_catch_process(message="changed"))

    async def scenario() -> tuple[Any, Any, Any]:
        async with zeebe(dev) as (client, channel):
            first = (await client.deploy_resource(v1)).deployments[0]
            await client.deploy_resource(v2)
            stub = GatewayStub(channel)
            by_key = await stub.CreateProcessInstance(
                pb.CreateProcessInstanceRequest(processDefinitionKey=first.process_definition_key)
            )
            by_version = await stub.CreateProcessInstance(
                pb.CreateProcessInstanceRequest(bpmnProcessId="wait-process", version=1)
            )
            latest = await client.run_process("wait-process", {"orderId": "x"})
            await stub.SetVariables(
                pb.SetVariablesRequest(
                    elementInstanceKey=by_key.processInstanceKey,
                    variables=json.dumps({"note": "set over gRPC"}),
                )
            )
            return by_key, by_version, latest

    by_key, by_version, latest = run(scenario())
    assert by_key.version == 1 and by_version.version == 1
    assert latest.version == 2
    pi = str(by_key.processInstanceKey)
    variables = rest_search(dev, "variables", {"filter": {"processInstanceKey": pi}})["items"]
    assert {item["name"]: item["value"] for item in variables} == {"note": '"set over gRPC"'}


def test_create_with_result_times_out_with_deadline_exceeded(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())

    async def scenario() -> None:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            await client.run_process_with_result("wait-process", {"orderId": "never"}, timeout=300)

    with pytest.raises(ProcessTimeoutError):
        run(scenario())


def test_timers_fire_in_real_time_through_the_tick_driver(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("timer.bpmn", timer_process(duration="PT0.3S"))

    async def scenario() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            started = loop.time()
            result = await client.run_process_with_result("timer-process", {"a": 1}, timeout=5_000)
            return result, loop.time() - started

    result, elapsed = run(scenario())
    assert result.variables == {"a": 1}
    assert 0.25 <= elapsed < 4


def test_activate_jobs_rejects_invalid_requests(dev: DevEngine) -> None:
    async def scenario(request: pb.ActivateJobsRequest) -> None:
        async with zeebe(dev) as (_, channel):
            async for _ in GatewayStub(channel).ActivateJobs(request):
                pass

    bad = [
        pb.ActivateJobsRequest(type="", worker="w", timeout=1000, maxJobsToActivate=1),
        pb.ActivateJobsRequest(type="t", worker="w", timeout=0, maxJobsToActivate=1),
        pb.ActivateJobsRequest(type="t", worker="w", timeout=1000, maxJobsToActivate=0),
        pb.ActivateJobsRequest(type="t", worker="", timeout=1000, maxJobsToActivate=1),
    ]
    for request in bad:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            run(scenario(request))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request


def test_buffered_message_correlates_when_the_subscription_opens(
    dev: DevEngine, bpmn_file: BpmnFile
) -> None:
    path = bpmn_file("wait.bpmn", message_catch_process())

    async def scenario() -> Any:
        async with zeebe(dev) as (client, _):
            await client.deploy_resource(path)
            await client.publish_message(
                "order-paid", "early", {"paid": True}, time_to_live_in_milliseconds=60_000
            )
            return await client.run_process_with_result(
                "wait-process", {"orderId": "early"}, timeout=5_000
            )

    result = run(scenario())
    assert result.variables == {"orderId": "early", "paid": True}
