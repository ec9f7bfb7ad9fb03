"""What discovery deals in: definitions, waiting instances, variable rows, a cycle's snapshot,
and the :class:`Source` interface every cluster API implements."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from connector.elements import ElementConfig, ElementConfigError


@dataclass(frozen=True, slots=True)
class DefinitionRef:
    key: int
    process_id: str
    version: int | None
    tenant_id: str | None


@dataclass(frozen=True)
class Definition:
    """One deployed process definition's polling elements (cached by key, immutable)."""

    ref: DefinitionRef
    configs: Mapping[str, ElementConfig]
    errors: tuple[ElementConfigError, ...] = ()
    #: element id -> enclosing sub-process ids, innermost first (for variable scopes)
    ancestors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: A digest of the deployed XML: after an outage, tells a definition redeployed under
    #: the same key (a reset cluster) from the one cached.
    xml_digest: bytes = b""

    @staticmethod
    def digest(xml: str | bytes) -> bytes:
        # bytes too: a source may hand over the document undecoded (the parser takes both)
        data = xml.encode() if isinstance(xml, str) else xml
        return hashlib.blake2b(data, digest_size=16).digest()

    @property
    def has_polling(self) -> bool:
        return bool(self.configs) or bool(self.errors)

    def config_for(self, element_id: str, message_name: str | None) -> ElementConfig | None:
        config = self.configs.get(element_id)
        if config is not None:
            return config
        # Some engines report a boundary event's subscription under the activity's id.
        for candidate in self.configs.values():
            if candidate.attached_to == element_id and (
                message_name is None or candidate.message_name == message_name
            ):
                return candidate
        return None


@dataclass(frozen=True, slots=True)
class WaitingInstance:
    """One element instance waiting at a polling element."""

    element_instance_key: int
    process_instance_key: int
    process_definition_key: int
    process_id: str
    element_id: str
    message_name: str
    correlation_key: str | None
    tenant_id: str | None
    config: ElementConfig = field(compare=False, repr=False)
    #: Poller identity: two boundary events on one activity share the instance key. Made
    #: once: the worker's maps per instance all key by this one tuple.
    key: tuple[int, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.element_instance_key, self.element_id))
        if self.tenant_id is not None:
            # A handful of tenants, one string each (not one per waiting instance).
            object.__setattr__(self, "tenant_id", sys.intern(self.tenant_id))

    @classmethod
    def of(cls, row: WaitingRow, config: ElementConfig) -> WaitingInstance:
        """The instance a source's row describes, waiting at ``config``'s element (a boundary
        event reported under its activity's id gets the event's)."""
        return cls(
            element_instance_key=row.element_instance_key,
            process_instance_key=row.process_instance_key,
            process_definition_key=row.process_definition_key,
            process_id=config.process_id,
            element_id=config.element_id,
            message_name=config.message_name,
            correlation_key=row.correlation_key,
            tenant_id=row.tenant_id,
            config=config,
        )


class WaitingRow(NamedTuple):
    """A raw waiting element instance as a source reports it (a tuple: 10,000s per cycle)."""

    element_instance_key: int
    process_instance_key: int
    process_definition_key: int
    element_id: str
    message_name: str | None
    correlation_key: str | None
    tenant_id: str | None
    #: listed CORRELATED: still waiting only at a non-interrupting boundary event
    correlated: bool = False


def repeating_element_ids(definitions: Iterable[Definition]) -> list[str]:
    """Ids of the non-interrupting boundary events among ``definitions``' polling elements:
    their subscriptions stay open after a correlation although listed CORRELATED."""
    return sorted(
        {
            config.element_id
            for definition in definitions
            for config in definition.configs.values()
            if not config.interrupting
        }
    )


class VariableRow(NamedTuple):
    key: int
    name: str
    value: str
    scope_key: int
    process_instance_key: int
    truncated: bool


@dataclass
class Snapshot:
    """What one discovery cycle found."""

    definitions: dict[int, Definition]
    waiting: dict[tuple[int, str], WaitingInstance]
    new_definitions: list[Definition]
    requests: int
    duration: float
    skipped_other_shards: int = 0
    #: Why the cluster looks reset (keys reused), when it does: records kept by key are stale.
    reset_reason: str | None = None
    #: waiting instances a full reconciliation found the increments had missed
    repaired: int = 0


# ---------------------------------------------------------------------------- sources


class Source(Protocol):
    @property
    def requests_made(self) -> int:
        """REST requests made so far (for the per-cycle count)."""

    def definitions(self) -> list[DefinitionRef]:
        """Definitions to load: the latest versions (or every version if the source must)."""

    def xml(self, key: int) -> str | None: ...

    def waiting(self, definitions: Mapping[int, Definition]) -> Iterator[WaitingRow]:
        """Every open wait; rows of definitions not in ``definitions`` are loaded on demand."""

    def variables(
        self, process_instance_keys: Sequence[int], names: Collection[str] | None = None
    ) -> list[VariableRow]:
        """Variables of the instances (every scope); only ``names`` when given (may return
        more: callers must not rely on the filter)."""

    def variable_value(self, variable_key: int) -> str | None: ...

    def scope_keys(
        self, process_instance_keys: Sequence[int], element_ids: Sequence[str]
    ) -> dict[tuple[int, str], int]:
        """(process instance, element id) -> key of the ACTIVE instance of that element."""


def reuses_key(cached: DefinitionRef, ref: DefinitionRef) -> bool:
    """Whether ``ref`` (from the definitions list) describes another definition than the
    cached one under the same key. Refs made from waiting rows carry no process id or
    version and so never count as a mismatch."""
    if not ref.process_id or not cached.process_id:
        return False
    return (
        ref.process_id != cached.process_id
        or (
            ref.version is not None and cached.version is not None and ref.version != cached.version
        )
        or ref.tenant_id != cached.tenant_id
    )


def parse_value(text: str) -> Any:
    """A variable's JSON text as a Python value (the raw text if it is not valid JSON)."""
    try:
        return json.loads(text)
    except ValueError:
        return text
