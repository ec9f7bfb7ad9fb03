"""The Zeebe Gateway gRPC service (pyzeebe's ``gateway.proto``) over the development engine.

Serves exactly the proto shipped with pyzeebe (Zeebe 8.6) with ``grpc.aio``. Each RPC
translates the protobuf request into one ``Engine`` call and the result back; engine
rejections become the gRPC status Zeebe's gateway would give. Variables travel as JSON object
strings in both directions. RPCs the engine has no equivalent for answer UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import grpc
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto import gateway_pb2_grpc as pb_grpc

from .auth import AuthConfig
from .engine import Engine
from .errors import EngineError
from .records import DEFAULT_TENANT, ActivatedJob, ProcessMetadata

__all__ = [
    "DEFAULT_LONG_POLL_MS",
    "AuthInterceptor",
    "GatewayService",
    "parse_variables",
]

log = logging.getLogger(__name__)

# Zeebe's gateway keeps an ActivateJobs call open this long when the client sends
# requestTimeout 0; pyzeebe then sets a 20 s deadline, so it must stay well below that.
DEFAULT_LONG_POLL_MS = 10_000
# CreateProcessInstanceWithResult without requestTimeout uses the gateway's request timeout.
DEFAULT_REQUEST_TIMEOUT_MS = 15_000
# StreamActivatedJobs has no batch size in its request; jobs are pushed in batches this big.
STREAM_BATCH_SIZE = 32
# When the engine says jobs are activatable but none could be taken (another worker won, or
# they belong to a tenant not asked for), wait this long before asking again instead of spinning.
_RETRY_PAUSE_S = 0.05

_STATUS = {
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
}

T = TypeVar("T")
Context = Any  # grpc.aio.ServicerContext (grpc ships no type information)


def parse_variables(text: str, field: str = "variables") -> dict[str, Any]:
    """A request's JSON variables document; empty means none. Zeebe requires a JSON object."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise EngineError(
            "INVALID_ARGUMENT",
            f"Property '{field}' is invalid: Expected document to be valid JSON, but it was "
            f"not: {error}",
        ) from None
    if not isinstance(value, dict):
        kind = {list: "ARRAY", str: "STRING", bool: "BOOLEAN", int: "NUMBER", float: "NUMBER"}
        found = "NIL" if value is None else kind.get(type(value), type(value).__name__.upper())
        raise EngineError(
            "INVALID_ARGUMENT",
            f"Property '{field}' is invalid: Expected document to be a root level object, "
            f"but was '{found}'",
        )
    return value


def _tenant(tenant_id: str) -> str:
    return tenant_id or DEFAULT_TENANT


def _process_metadata(meta: ProcessMetadata) -> pb.ProcessMetadata:
    return pb.ProcessMetadata(
        bpmnProcessId=meta.bpmn_process_id,
        version=meta.version,
        processDefinitionKey=meta.process_definition_key,
        resourceName=meta.resource_name,
        tenantId=meta.tenant_id,
    )


def _activated_job(job: ActivatedJob) -> pb.ActivatedJob:
    return pb.ActivatedJob(
        key=job.key,
        type=job.type,
        processInstanceKey=job.process_instance_key,
        bpmnProcessId=job.bpmn_process_id,
        processDefinitionVersion=job.process_definition_version,
        processDefinitionKey=job.process_definition_key,
        elementId=job.element_id,
        elementInstanceKey=job.element_instance_key,
        customHeaders=json.dumps(job.custom_headers),
        worker=job.worker,
        retries=job.retries,
        deadline=job.deadline_ms,
        variables=json.dumps(job.variables),
        tenantId=job.tenant_id,
    )


async def _abort(context: Context, code: Any, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # grpc.aio raises inside abort


async def _call(context: Context, action: Callable[[], T]) -> T:
    """Run one engine command; a rejection ends the RPC with the matching status."""
    try:
        return action()
    except EngineError as error:
        await _abort(context, _STATUS.get(error.code, grpc.StatusCode.UNKNOWN), error.message)
    except Exception as error:  # an engine bug must still end the call the way Zeebe would
        log.exception("gRPC command failed")
        await _abort(
            context,
            grpc.StatusCode.INTERNAL,
            f"Unexpected error occurred during the request processing: {type(error).__name__}",
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EngineError("INVALID_ARGUMENT", message)


class GatewayService(pb_grpc.GatewayServicer):
    """``gateway_protocol.Gateway`` backed by an ``Engine``.

    ``host``/``port`` are what Topology reports (set them once the server is bound).
    ``long_poll_ms`` is the long-polling time used when ActivateJobs asks for the default.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 26500,
        long_poll_ms: int = DEFAULT_LONG_POLL_MS,
        request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
    ) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.long_poll_ms = long_poll_ms
        self.request_timeout_ms = request_timeout_ms

    # ------------------------------------------------------------------ cluster

    async def Topology(self, request: pb.TopologyRequest, context: Context) -> pb.TopologyResponse:
        info = self.engine.topology(self.host, self.port)
        roles = {
            "leader": pb.Partition.LEADER,
            "follower": pb.Partition.FOLLOWER,
            "inactive": pb.Partition.INACTIVE,
        }
        health = {
            "healthy": pb.Partition.HEALTHY,
            "unhealthy": pb.Partition.UNHEALTHY,
            "dead": pb.Partition.DEAD,
        }
        brokers = [
            pb.BrokerInfo(
                nodeId=broker.node_id,
                host=broker.host,
                port=broker.port,
                partitions=[
                    pb.Partition(
                        partitionId=broker.partition_id,
                        role=roles[broker.role],
                        health=health[broker.health],
                    )
                ],
                version=broker.version,
            )
            for broker in info.brokers
        ]
        return pb.TopologyResponse(
            brokers=brokers,
            clusterSize=info.cluster_size,
            partitionsCount=info.partitions_count,
            replicationFactor=info.replication_factor,
            gatewayVersion=info.gateway_version,
        )

    # ------------------------------------------------------------------ deployment

    async def DeployResource(
        self, request: pb.DeployResourceRequest, context: Context
    ) -> pb.DeployResourceResponse:
        tenant_id = _tenant(request.tenantId)
        resources = [(resource.name, bytes(resource.content)) for resource in request.resources]

        def deploy() -> Any:
            _require(bool(resources), "Expected to deploy at least one resource, but none given")
            return self.engine.deploy(resources, tenant_id)

        result = await _call(context, deploy)
        return pb.DeployResourceResponse(
            key=result.key,
            deployments=[pb.Deployment(process=_process_metadata(m)) for m in result.processes],
            tenantId=result.tenant_id,
        )

    async def DeployProcess(
        self, request: pb.DeployProcessRequest, context: Context
    ) -> pb.DeployProcessResponse:
        resources = [(process.name, bytes(process.definition)) for process in request.processes]

        def deploy() -> Any:
            _require(bool(resources), "Expected to deploy at least one resource, but none given")
            return self.engine.deploy(resources)

        result = await _call(context, deploy)
        return pb.DeployProcessResponse(
            key=result.key, processes=[_process_metadata(m) for m in result.processes]
        )

    # ------------------------------------------------------------------ process instances

    def _create(self, request: pb.CreateProcessInstanceRequest) -> Any:
        _require(
            not request.startInstructions,
            "Start instructions are not supported by the development engine",
        )
        variables = parse_variables(request.variables)
        if request.processDefinitionKey > 0:
            return self.engine.create_process_instance(
                process_definition_key=request.processDefinitionKey,
                variables=variables,
                tenant_id=_tenant(request.tenantId),
            )
        _require(
            bool(request.bpmnProcessId),
            "Expected either a processDefinitionKey or a bpmnProcessId, but none given",
        )
        return self.engine.create_process_instance(
            bpmn_process_id=request.bpmnProcessId,
            version=request.version if request.version > 0 else -1,
            variables=variables,
            tenant_id=_tenant(request.tenantId),
        )

    async def CreateProcessInstance(
        self, request: pb.CreateProcessInstanceRequest, context: Context
    ) -> pb.CreateProcessInstanceResponse:
        info = await _call(context, lambda: self._create(request))
        return pb.CreateProcessInstanceResponse(
            processDefinitionKey=info.process_definition_key,
            bpmnProcessId=info.bpmn_process_id,
            version=info.version,
            processInstanceKey=info.process_instance_key,
            tenantId=info.tenant_id,
        )

    async def CreateProcessInstanceWithResult(
        self, request: pb.CreateProcessInstanceWithResultRequest, context: Context
    ) -> pb.CreateProcessInstanceWithResultResponse:
        info = await _call(context, lambda: self._create(request.request))
        fetch = list(request.fetchVariables) or None
        timeout_ms = request.requestTimeout if request.requestTimeout > 0 else None
        timeout_ms = timeout_ms or self.request_timeout_ms
        future = await _call(
            context, lambda: self.engine.await_instance_result(info.process_instance_key, fetch)
        )
        try:
            variables = await asyncio.wait_for(asyncio.wrap_future(future), timeout_ms / 1000)
        except TimeoutError:
            await _abort(
                context,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Time out between gateway and broker: Request timed out after {timeout_ms} ms "
                f"waiting for process instance '{info.process_instance_key}' to complete",
            )
        except EngineError as error:
            await _abort(context, _STATUS.get(error.code, grpc.StatusCode.UNKNOWN), error.message)
        return pb.CreateProcessInstanceWithResultResponse(
            processDefinitionKey=info.process_definition_key,
            bpmnProcessId=info.bpmn_process_id,
            version=info.version,
            processInstanceKey=info.process_instance_key,
            variables=json.dumps(variables),
            tenantId=info.tenant_id,
        )

    async def CancelProcessInstance(
        self, request: pb.CancelProcessInstanceRequest, context: Context
    ) -> pb.CancelProcessInstanceResponse:
        await _call(
            context, lambda: self.engine.cancel_process_instance(request.processInstanceKey)
        )
        return pb.CancelProcessInstanceResponse()

    async def SetVariables(
        self, request: pb.SetVariablesRequest, context: Context
    ) -> pb.SetVariablesResponse:
        def set_variables() -> int:
            variables = parse_variables(request.variables)
            return self.engine.set_variables(request.elementInstanceKey, variables, request.local)

        return pb.SetVariablesResponse(key=await _call(context, set_variables))

    async def ResolveIncident(
        self, request: pb.ResolveIncidentRequest, context: Context
    ) -> pb.ResolveIncidentResponse:
        await _call(context, lambda: self.engine.resolve_incident(request.incidentKey))
        return pb.ResolveIncidentResponse()

    # ------------------------------------------------------------------ messages

    async def PublishMessage(
        self, request: pb.PublishMessageRequest, context: Context
    ) -> pb.PublishMessageResponse:
        tenant_id = _tenant(request.tenantId)

        def publish() -> int:
            _require(
                bool(request.name), "Expected to publish a message with a name, but none given"
            )
            return self.engine.publish_message(
                request.name,
                correlation_key=request.correlationKey,
                time_to_live_ms=max(request.timeToLive, 0),
                message_id=request.messageId,
                variables=parse_variables(request.variables),
                tenant_id=tenant_id,
            )

        key = await _call(context, publish)
        return pb.PublishMessageResponse(key=key, tenantId=tenant_id)

    # ------------------------------------------------------------------ jobs

    def _check_activation(
        self, job_type: str, timeout: int, max_jobs: int | None, worker: str | None
    ) -> None:
        _require(
            bool(job_type.strip()),
            "Expected to activate jobs with a type, but the type was blank",
        )
        if worker is not None:
            _require(
                bool(worker.strip()),
                "Expected to activate jobs with a worker name, but the worker was blank",
            )
        _require(
            timeout >= 1,
            f"Expected to activate jobs with a timeout of at least 1 ms, but it was {timeout}",
        )
        if max_jobs is not None:
            _require(
                max_jobs >= 1,
                "Expected to activate jobs with maxJobsToActivate of at least 1, but it was "
                f"{max_jobs}",
            )

    def _activate(
        self,
        job_type: str,
        worker: str,
        timeout: int,
        max_jobs: int,
        fetch: Sequence[str],
        tenants: Sequence[str],
    ) -> list[ActivatedJob]:
        return self.engine.activate_jobs(
            job_type,
            worker,
            timeout,
            max_jobs,
            fetch_variables=list(fetch) or None,
            tenant_ids=list(tenants) or None,
        )

    async def ActivateJobs(
        self, request: pb.ActivateJobsRequest, context: Context
    ) -> AsyncIterator[pb.ActivateJobsResponse]:
        await _call(
            context,
            lambda: self._check_activation(
                request.type, request.timeout, request.maxJobsToActivate, request.worker
            ),
        )
        poll_ms = request.requestTimeout if request.requestTimeout != 0 else self.long_poll_ms
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(poll_ms, 0) / 1000
        while True:
            # Ask for a wake-up before looking, so a job created in between is not missed.
            waiter = self.engine.wait_for_jobs(request.type)
            try:
                jobs = await _call(
                    context,
                    lambda: self._activate(
                        request.type,
                        request.worker,
                        request.timeout,
                        request.maxJobsToActivate,
                        request.fetchVariable,
                        request.tenantIds,
                    ),
                )
                if jobs:
                    yield pb.ActivateJobsResponse(jobs=[_activated_job(job) for job in jobs])
                    return
                remaining = deadline - loop.time()
                if poll_ms < 0 or remaining <= 0 or not await self._wait(waiter, remaining):
                    return
            finally:
                waiter.cancel()

    async def StreamActivatedJobs(
        self, request: pb.StreamActivatedJobsRequest, context: Context
    ) -> AsyncIterator[pb.ActivatedJob]:
        await _call(
            context, lambda: self._check_activation(request.type, request.timeout, None, None)
        )
        while True:
            waiter = self.engine.wait_for_jobs(request.type)
            try:
                jobs = await _call(
                    context,
                    lambda: self._activate(
                        request.type,
                        request.worker,
                        request.timeout,
                        STREAM_BATCH_SIZE,
                        request.fetchVariable,
                        request.tenantIds,
                    ),
                )
                for job in jobs:
                    yield _activated_job(job)
                if not jobs:
                    await self._wait(waiter, None)
            finally:
                waiter.cancel()

    @staticmethod
    async def _wait(waiter: Any, timeout_s: float | None) -> bool:
        """Wait for the engine's job signal; False when the time ran out."""
        if waiter.done():
            await asyncio.sleep(_RETRY_PAUSE_S)
            return True
        try:
            await asyncio.wait_for(asyncio.wrap_future(waiter), timeout_s)
        except TimeoutError:
            return False
        return True

    async def CompleteJob(
        self, request: pb.CompleteJobRequest, context: Context
    ) -> pb.CompleteJobResponse:
        def complete() -> None:
            variables = parse_variables(request.variables)
            self.engine.complete_job(request.jobKey, variables)

        await _call(context, complete)
        return pb.CompleteJobResponse()

    async def FailJob(self, request: pb.FailJobRequest, context: Context) -> pb.FailJobResponse:
        def fail() -> None:
            variables = parse_variables(request.variables)
            self.engine.fail_job(
                request.jobKey,
                request.retries,
                request.errorMessage,
                max(request.retryBackOff, 0),
                variables,
            )

        await _call(context, fail)
        return pb.FailJobResponse()

    async def ThrowError(
        self, request: pb.ThrowErrorRequest, context: Context
    ) -> pb.ThrowErrorResponse:
        def throw() -> None:
            variables = parse_variables(request.variables)
            self.engine.throw_error(
                request.jobKey, request.errorCode, request.errorMessage, variables
            )

        await _call(context, throw)
        return pb.ThrowErrorResponse()

    async def UpdateJobRetries(
        self, request: pb.UpdateJobRetriesRequest, context: Context
    ) -> pb.UpdateJobRetriesResponse:
        await _call(
            context, lambda: self.engine.update_job_retries(request.jobKey, request.retries)
        )
        return pb.UpdateJobRetriesResponse()

    # ------------------------------------------------------------------ not implemented

    async def _unimplemented(self, context: Context, rpc: str) -> NoReturn:
        await _abort(
            context,
            grpc.StatusCode.UNIMPLEMENTED,
            f"{rpc} is not implemented by the development engine",
        )

    async def EvaluateDecision(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "EvaluateDecision")

    async def ModifyProcessInstance(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "ModifyProcessInstance")

    async def MigrateProcessInstance(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "MigrateProcessInstance")

    async def UpdateJobTimeout(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "UpdateJobTimeout")

    async def DeleteResource(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "DeleteResource")

    async def BroadcastSignal(self, request: Any, context: Context) -> Any:
        await self._unimplemented(context, "BroadcastSignal")


# ---------------------------------------------------------------------------- auth

# The standard health service stays open so that probes work without credentials.
_OPEN_SERVICES = ("/grpc.health.v1.Health/",)


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Rejects Gateway calls without acceptable ``authorization`` metadata (UNAUTHENTICATED)."""

    def __init__(self, auth: AuthConfig) -> None:
        self._auth = auth

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_OPEN_SERVICES):
            return handler
        metadata = {key: value for key, value in details.invocation_metadata or ()}
        if self._auth.accepts(metadata.get("authorization")):
            return handler
        return _denying(handler)


def _denying(handler: Any) -> Any:
    """A handler of the same shape as ``handler`` that only answers UNAUTHENTICATED."""

    async def deny(request: Any, context: Context) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid credentials")

    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **codec)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **codec)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **codec)
    return grpc.unary_unary_rpc_method_handler(deny, **codec)
