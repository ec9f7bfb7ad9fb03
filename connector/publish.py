"""Publish an :class:`~connector.correlation.Activation` as a Zeebe message via pyzeebe.

Retries transient gateway errors (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, and
an attempt that takes too long) with exponential backoff and jitter until a deadline. A
duplicate message id (ALREADY_EXISTS) after a failed attempt means that attempt reached the
broker after all (``RETRIED_DUPLICATE``, a success: every activation carries a message id,
so retrying is safe). On the first attempt it means another message with the same name,
correlation key and id is buffered (``DUPLICATE``): the broker dropped this one.

Use a ``ZeebeClient`` created with ``max_connection_retries=-1``: pyzeebe otherwise closes
its channel for good after ten transient errors.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from typing import Any

from pyzeebe import ZeebeClient
from pyzeebe.errors import (
    MessageAlreadyExistsError,
    ZeebeBackPressureError,
    ZeebeDeadlineExceeded,
    ZeebeGatewayUnavailableError,
)

from connector.correlation import Activation
from connector.errors import ConnectorError

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ZeebeGatewayUnavailableError,
    ZeebeBackPressureError,
    ZeebeDeadlineExceeded,
    asyncio.TimeoutError,
)


class PublishError(ConnectorError):
    """The message could not be published (the worker keeps the activation and retries)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class PublishOutcome(enum.Enum):
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    RETRIED_DUPLICATE = "retried_duplicate"


async def publish_message(
    client: ZeebeClient,
    activation: Activation,
    *,
    tenant_id: str | None = None,
    deadline_seconds: float = 30.0,
    attempt_timeout_seconds: float = 10.0,
    initial_backoff_seconds: float = 0.1,
    max_backoff_seconds: float = 5.0,
) -> PublishOutcome:
    """Publish ``activation``; return whether it was new or a duplicate.

    Raises :class:`PublishError` when a transient error outlasts ``deadline_seconds``
    (``transient=True``) or on any other gateway error (``transient=False``).
    """
    deadline = time.monotonic() + deadline_seconds
    backoff = initial_backoff_seconds
    attempt = 0
    label = f"process '{activation.process_id}' element '{activation.element_id}'"
    while True:
        attempt += 1
        try:
            await asyncio.wait_for(
                _publish_once(client, activation, tenant_id), attempt_timeout_seconds
            )
        except MessageAlreadyExistsError:
            # The caller logs the outcome with its structured fields; this is the detail.
            log.debug(
                "%s instance %s: message already published (id %s, correlation key %s)",
                label,
                activation.element_instance_key,
                activation.message_id,
                activation.correlation_key,
            )
            return PublishOutcome.DUPLICATE if attempt == 1 else PublishOutcome.RETRIED_DUPLICATE
        except TRANSIENT_ERRORS as exc:
            remaining = deadline - time.monotonic()
            reason = type(exc).__name__
            if remaining <= 0:
                raise PublishError(
                    f"{label}: publishing failed after {attempt} attempts ({reason})",
                    transient=True,
                ) from exc
            delay = min(backoff, remaining) * random.uniform(0.5, 1.0)
            log.debug("%s: transient publish error %s, retrying in %.2fs", label, reason, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, max_backoff_seconds)
            continue
        except Exception as exc:
            raise PublishError(
                f"{label}: publishing failed ({type(exc).__name__}: {exc})", transient=False
            ) from exc
        log.debug(
            "%s instance %s: correlated message '%s' (correlation key %s, message id %s)",
            label,
            activation.element_instance_key,
            activation.message_name,
            activation.correlation_key,
            activation.message_id,
        )
        return PublishOutcome.PUBLISHED


async def _publish_once(client: ZeebeClient, activation: Activation, tenant_id: str | None) -> Any:
    return await client.publish_message(
        name=activation.message_name,
        correlation_key=activation.correlation_key,
        variables=activation.variables,
        time_to_live_in_milliseconds=int(activation.ttl.total_seconds() * 1000),
        message_id=activation.message_id,
        tenant_id=tenant_id,
    )
