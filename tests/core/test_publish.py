"""publish_message against a local gRPC gateway that can be told to fail."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from pyzeebe import ZeebeClient
from pyzeebe.proto import gateway_pb2 as pb
from pyzeebe.proto import gateway_pb2_grpc as pb_grpc

from connector.correlation import Activation
from connector.publish import PublishError, PublishOutcome, publish_message

ACTIVATION = Activation(
    message_name="order-shipped",
    correlation_key="A-1",
    message_id="Event_Wait42",
    ttl=dt.timedelta(minutes=5),
    variables={"status": "SHIPPED", "n": 3},
    process_id="p",
    element_id="Event_Wait",
    element_instance_key=42,
)


class Gateway(pb_grpc.GatewayServicer):  # type: ignore[misc]
    """Answers PublishMessage with the scripted status codes, then OK."""

    def __init__(self, script: list[grpc.StatusCode]) -> None:
        self.script = list(script)
        self.requests: list[Any] = []

    async def PublishMessage(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        if self.script:
            code = self.script.pop(0)
            await context.abort(code, f"scripted {code.name}")
        return pb.PublishMessageResponse(key=len(self.requests))


def run_with_gateway(
    script: list[grpc.StatusCode], body: Callable[[ZeebeClient], Awaitable[Any]]
) -> tuple[Any, Gateway]:
    async def main() -> tuple[Any, Gateway]:
        gateway = Gateway(script)
        server = grpc.aio.server()
        pb_grpc.add_GatewayServicer_to_server(gateway, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        try:
            client = ZeebeClient(channel, max_connection_retries=-1)
            return await body(client), gateway
        finally:
            await channel.close()
            await server.stop(None)

    return asyncio.run(main())


def test_publishes_all_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="connector.publish")
    outcome, gateway = run_with_gateway([], lambda c: publish_message(c, ACTIVATION))
    assert outcome is PublishOutcome.PUBLISHED
    [sent] = gateway.requests
    assert sent.name == "order-shipped"
    assert sent.correlationKey == "A-1"
    assert sent.messageId == "Event_Wait42"
    assert sent.timeToLive == 300_000
    assert json.loads(sent.variables) == {"status": "SHIPPED", "n": 3}
    assert "Event_Wait" in caplog.text and "A-1" in caplog.text and "42" in caplog.text


def test_duplicate_message_id_is_success() -> None:
    outcome, gateway = run_with_gateway(
        [grpc.StatusCode.ALREADY_EXISTS], lambda c: publish_message(c, ACTIVATION)
    )
    assert outcome is PublishOutcome.DUPLICATE
    assert len(gateway.requests) == 1


def test_transient_errors_are_retried() -> None:
    script = [
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ]
    outcome, gateway = run_with_gateway(
        script, lambda c: publish_message(c, ACTIVATION, initial_backoff_seconds=0.01)
    )
    assert outcome is PublishOutcome.PUBLISHED
    assert len(gateway.requests) == 4


def test_transient_errors_past_the_deadline_raise() -> None:
    script = [grpc.StatusCode.UNAVAILABLE] * 1000

    async def body(client: ZeebeClient) -> PublishError:
        with pytest.raises(PublishError) as exc:
            await publish_message(
                client,
                ACTIVATION,
                deadline_seconds=0.3,
                initial_backoff_seconds=0.01,
                max_backoff_seconds=0.05,
            )
        return exc.value

    error, gateway = run_with_gateway(script, body)
    assert error.transient
    assert len(gateway.requests) >= 3


def test_other_errors_are_not_retried() -> None:
    async def body(client: ZeebeClient) -> PublishError:
        with pytest.raises(PublishError) as exc:
            await publish_message(client, ACTIVATION)
        return exc.value

    error, gateway = run_with_gateway([grpc.StatusCode.INVALID_ARGUMENT], body)
    assert not error.transient
    assert len(gateway.requests) == 1
