"""The connector's exceptions, in one tree (and the poll outcomes, in one enum).

Every error the worker raises on purpose derives from :class:`ConnectorError`, so a caller
can catch the whole family, or one branch of it::

    ConnectorError                      root: anything the connector raises on purpose
    ├── PropertyError                   a property value of a polling element is unusable
    │   ├── ElementConfigError          ... at load: the element is skipped (a reported
    │   │                                   value carrying process, element, property, source)
    │   └── ElementPropertyError        ... for one waiting instance (names the element)
    │       ├── BindingError            a request property (connector.binding)
    │       └── CorrelationError        a response expression (connector.correlation)
    ├── BpmnError                       a document is not BPMN XML we can read (a ValueError)
    ├── ClusterError                    a REST call to the cluster failed (connector.discovery)
    ├── PublishError                    a message could not be published (connector.publish)
    ├── ConfigError                     the worker configuration is invalid (connector.config)
    ├── KubernetesError                 the StatefulSet's replica count is unreadable
    │                                   (connector.kubernetes, --shard-count auto)
    ├── SecretNotFoundError             a referenced secret is not set (a LookupError)
    └── PollFailure                     a failed poll step, labelled by a PollOutcome
                                        (connector.scheduler)

The classes are importable from the modules that raise them, as before; those defined
elsewhere only take their base class from here. Not in the tree yet: the HTTP layer's
errors (``connector.http.response.HttpError`` and its subclasses), which the pipeline
turns into a :class:`PollFailure`, and the development engine's own errors.

No message carries a secret value: errors name the element and the property, not values.
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""


class PropertyError(ConnectorError):
    """A property value is invalid; carries the property name and the reason."""

    def __init__(self, prop: str, reason: str) -> None:
        super().__init__(reason)
        self.prop = prop
        self.reason = reason


@dataclass(frozen=True, eq=True)
class ElementConfigError(PropertyError):
    """Why one element (or one of its properties) could not be loaded.

    Loading collects these as values (one bad element never stops the others), so it is a
    frozen dataclass: compared and hashed by its fields. It can be raised all the same.
    """

    process_id: str
    element_id: str
    property: str
    reason: str
    source: str = ""

    def __post_init__(self) -> None:
        # The dataclass __init__ does not call the exception's: set its args here.
        Exception.__init__(self, str(self))

    # builtins.: the field named ``property`` hides the builtin in this class body.
    @builtins.property
    def prop(self) -> str:  # type: ignore[override]  # read-only: the dataclass is frozen
        return self.property

    def __str__(self) -> str:
        return (
            f"{self.source}: process '{self.process_id}' element '{self.element_id}' "
            f"property '{self.property}': {self.reason}"
        )

    def __reduce__(self) -> tuple[type[ElementConfigError], tuple[str, str, str, str, str]]:
        fields = (self.process_id, self.element_id, self.property, self.reason, self.source)
        return type(self), fields


class ElementPropertyError(PropertyError):
    """A property of one polling element gave an unusable value for one instance.

    The message names the element and the property; it never carries secret values.
    """

    def __init__(self, element: str, prop: str, reason: str) -> None:
        # The message names the element too (PropertyError's is the bare reason).
        ConnectorError.__init__(self, f"{element} property '{prop}': {reason}")
        self.element = element
        self.prop = self.property = prop
        self.reason = reason


class BpmnError(ConnectorError, ValueError):
    """The document is not BPMN XML we can read (not XML, or no ``bpmn:definitions``)."""


class PollOutcome(enum.StrEnum):
    """How one poll ended: the ``outcome`` label of ``polls_total`` and ``lastStatus``.

    A StrEnum: members are the metric label values themselves, and compare equal to them.
    """

    #: The condition was met and the message was published.
    ACTIVATED = "activated"
    #: The response did not meet the activation condition.
    NOT_MET = "not_met"
    #: The condition was met again for a message already published (query lag).
    ALREADY_PUBLISHED = "already_published"
    #: The endpoint answered with an error status.
    HTTP_ERROR = "http_error"
    #: No usable answer: connection, TLS, timeout, OAuth token, oversized response.
    TRANSPORT_ERROR = "transport_error"
    #: A request property could not be bound for the instance.
    BINDING_ERROR = "binding_error"
    #: The instance's variables could not be read.
    VARIABLES_ERROR = "variables_error"
    #: A response expression gave an unusable result.
    CORRELATION_ERROR = "correlation_error"
    #: The message could not be published.
    PUBLISH_ERROR = "publish_error"
    #: Preparing the request failed unexpectedly.
    PREPARE_ERROR = "prepare_error"
    #: A bug in a poll step; the poller carries on.
    INTERNAL_ERROR = "internal_error"
    #: The message variables exceed the configured maximum message size (permanent).
    MESSAGE_TOO_LARGE = "message_too_large"
    #: The broker dropped the message: another one with the same name, correlation key and
    #: message id is still buffered (fix messageIdExpression).
    DUPLICATE_REJECTED = "duplicate_rejected"
    #: A kept activation whose instance stopped waiting before it could be published.
    ABANDONED = "abandoned"
    #: Abandoned at shutdown before its HTTP call; not counted in ``polls_total``.
    STOPPED = "stopped"


#: The outcomes counted in ``polls_total`` (every one but STOPPED).
COUNTED_OUTCOMES = tuple(o for o in PollOutcome if o is not PollOutcome.STOPPED)
