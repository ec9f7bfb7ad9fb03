"""BPMN XML -> executable process models, with Zeebe-style deployment validation.

Only the subset the engine executes is accepted; any other flow element is rejected naming its
id, the way Zeebe rejects what it cannot execute. Parsing is pure (no engine state).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import isodate

from .expressions import Expr, ExpressionError, parse_expression

__all__ = [
    "BPMN_NS",
    "ZEEBE_NS",
    "Element",
    "Flow",
    "IoMapping",
    "ModelError",
    "ProcessModel",
    "duration_ms",
    "parse_bpmn",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
_B = "{" + BPMN_NS + "}"
_Z = "{" + ZEEBE_NS + "}"

# Camunda 8.8 element type enum per executable element kind.
ELEMENT_TYPES = {
    "process": "PROCESS",
    "startEvent": "START_EVENT",
    "endEvent": "END_EVENT",
    "exclusiveGateway": "EXCLUSIVE_GATEWAY",
    "parallelGateway": "PARALLEL_GATEWAY",
    "serviceTask": "SERVICE_TASK",
    "receiveTask": "RECEIVE_TASK",
    "intermediateCatchEvent": "INTERMEDIATE_CATCH_EVENT",
    "boundaryEvent": "BOUNDARY_EVENT",
    "subProcess": "SUB_PROCESS",
}
ACTIVITIES = frozenset({"serviceTask", "receiveTask", "subProcess"})
# Non-executable BPMN children that may appear in a process and are ignored.
_IGNORED = frozenset(
    {
        "documentation",
        "extensionElements",
        "laneSet",
        "textAnnotation",
        "association",
        "group",
        # a sub-process's own flow references and loop marker sit beside its inner elements
        "incoming",
        "outgoing",
        "multiInstanceLoopCharacteristics",
    }
)
_IGNORED_IN_ELEMENT = frozenset(
    {"documentation", "extensionElements", "incoming", "outgoing", "conditionExpression"}
)


class ModelError(ValueError):
    """A deployment validation failure: ``problems`` lists (element id, reason) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"Element: {element} - ERROR: {reason}" for element, reason in problems)
        )


@dataclass(frozen=True, slots=True)
class IoMapping:
    source: Expr
    target: str


@dataclass(frozen=True, slots=True)
class Flow:
    id: str
    source: str
    target: str
    condition: Expr | None


@dataclass(slots=True)
class Element:
    """One executable flow element (or the process itself, kind ``process``)."""

    id: str
    kind: str
    name: str | None
    scope_id: str | None
    outgoing: list[Flow] = field(default_factory=list)
    incoming: list[str] = field(default_factory=list)  # ids of incoming sequence flows
    inputs: tuple[IoMapping, ...] = ()
    outputs: tuple[IoMapping, ...] = ()
    # events
    message_name: Expr | None = None
    correlation_key: Expr | None = None
    timer_duration: Expr | None = None
    attached_to: str | None = None
    cancel_activity: bool = True
    boundary_ids: list[str] = field(default_factory=list)
    # gateways
    default_flow: str | None = None
    # service tasks
    job_type: Expr | None = None
    job_retries: Expr | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # scopes (process, sub-process)
    none_start_id: str | None = None

    @property
    def element_type(self) -> str:
        return ELEMENT_TYPES[self.kind]

    @property
    def is_message_event(self) -> bool:
        return self.message_name is not None

    @property
    def is_scope(self) -> bool:
        return self.kind in ("process", "subProcess")


@dataclass(slots=True)
class ProcessModel:
    bpmn_process_id: str
    name: str | None
    version_tag: str | None
    elements: dict[str, Element]
    checksum: str

    @property
    def root(self) -> Element:
        return self.elements[self.bpmn_process_id]

    def message_start_events(self) -> list[Element]:
        return [
            e
            for e in self.elements.values()
            if e.kind == "startEvent" and e.scope_id == self.bpmn_process_id and e.is_message_event
        ]


def duration_ms(text: str, now_ms: int) -> int:
    """Milliseconds of an ISO 8601 duration (calendar parts resolved from ``now_ms``)."""
    value = isodate.parse_duration(text.strip())
    if isinstance(value, dt.timedelta):
        delta = value
    else:
        start = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
        delta = value.totimedelta(start=start)
    ms = int(delta.total_seconds() * 1000)
    if ms < 0:
        raise ValueError(f"negative duration '{text}'")
    return ms


#: Deepest XML nesting a resource may have. Building and running the model walks scopes
#: recursively; modelled processes nest a few levels, so a limit far above that turns a
#: hostile document into a clear deployment error instead of a RecursionError.
MAX_NESTING = 200


def _deeper_than(root: ET.Element, limit: int) -> str | None:
    """The id (or tag) of the first element nested deeper than ``limit``, else None."""
    stack: list[tuple[ET.Element, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return node.get("id") or _local(node.tag)
        stack.extend((child, depth + 1) for child in node)
    return None


def parse_bpmn(content: bytes) -> list[ProcessModel]:
    """Parse and validate a BPMN resource; raise ``ModelError`` listing every problem."""
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise ModelError([("definitions", "DOCTYPE and entity declarations are not allowed")])
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise ModelError([("definitions", f"the resource is not well-formed XML: {exc}")]) from exc
    if root.tag != _B + "definitions":
        raise ModelError([("definitions", f"expected a BPMN 'definitions' root, got '{root.tag}'")])
    too_deep = _deeper_than(root, MAX_NESTING)
    if too_deep is not None:
        raise ModelError(
            [(too_deep, f"elements nested deeper than {MAX_NESTING} levels are not supported")]
        )
    checksum = hashlib.sha256(content).hexdigest()
    messages = {m.get("id", ""): m for m in root.findall(_B + "message")}
    processes = [
        p for p in root.findall(_B + "process") if p.get("isExecutable", "true").lower() != "false"
    ]
    if not processes:
        raise ModelError([("definitions", "Must contain at least one executable process")])
    models = []
    problems: list[tuple[str, str]] = []
    for process in processes:
        builder = _Builder(messages, checksum)
        model = builder.build(process)
        problems.extend(builder.problems)
        if model is not None:
            models.append(model)
    if problems:
        raise ModelError(problems)
    return models


class _Builder:
    def __init__(self, messages: dict[str, ET.Element], checksum: str) -> None:
        self.messages = messages
        self.checksum = checksum
        self.problems: list[tuple[str, str]] = []
        self.elements: dict[str, Element] = {}
        self.rejected: set[str] = set()  # unsupported elements: flows to them are not reported

    def fail(self, element_id: str, reason: str) -> None:
        self.problems.append((element_id, reason))

    def expr(self, element_id: str, prop: str, text: str | None) -> Expr | None:
        if text is None:
            return None
        try:
            return parse_expression(text)
        except ExpressionError as exc:
            self.fail(element_id, f"invalid expression in '{prop}': {exc}")
            return None

    def build(self, process: ET.Element) -> ProcessModel | None:
        process_id = process.get("id")
        if not process_id:
            self.fail("process", "Attribute 'id' is required")
            return None
        root = Element(process_id, "process", process.get("name"), None)
        self.elements[process_id] = root
        version_tag = None
        ext = process.find(_B + "extensionElements")
        if ext is not None:
            tag = ext.find(_Z + "versionTag")
            if tag is not None:
                version_tag = tag.get("value")
        self.scope(process, root)
        if self.problems:
            return None
        return ProcessModel(process_id, root.name, version_tag, self.elements, self.checksum)

    def scope(self, node: ET.Element, scope: Element) -> None:
        flows: list[ET.Element] = []
        for child in node:
            local = _local(child.tag)
            if child.tag.startswith(_B) and local in _IGNORED:
                continue
            if not child.tag.startswith(_B):
                continue  # foreign-namespace extensions are not executable
            if local == "sequenceFlow":
                flows.append(child)
                continue
            element_id = child.get("id") or f"<{local} without id>"
            if element_id in self.elements:
                self.fail(element_id, "Element id is not unique")
                continue
            if local not in ELEMENT_TYPES or local == "process":
                self.fail(element_id, f"Elements of type '{local}' are not supported")
                self.rejected.add(element_id)
                continue
            self.element(child, local, element_id, scope)
        self.flows(flows, scope)
        starts = [
            e for e in self.elements.values() if e.scope_id == scope.id and e.kind == "startEvent"
        ]
        none_starts = [e for e in starts if not e.is_message_event]
        if scope.kind == "process" and not starts:
            self.fail(scope.id, "Must have at least one start event")
        if len(none_starts) > 1:
            self.fail(scope.id, "Must have at most one none start event")
        if scope.kind == "subProcess" and (len(none_starts) != 1 or len(starts) != 1):
            self.fail(scope.id, "Must have exactly one start event, a none start event")
        scope.none_start_id = none_starts[0].id if none_starts else None

    def element(self, node: ET.Element, kind: str, element_id: str, scope: Element) -> None:
        element = Element(element_id, kind, node.get("name"), scope.id)
        self.elements[element_id] = element
        definitions = []
        for child in node:
            local = _local(child.tag)
            if not child.tag.startswith(_B) or local in _IGNORED_IN_ELEMENT:
                continue
            if local.endswith("EventDefinition"):
                definitions.append(child)
            elif kind == "subProcess":
                continue  # handled as a nested scope below
            elif local == "multiInstanceLoopCharacteristics":
                self.fail(element_id, "Multi-instance activities are not supported")
            else:
                self.fail(element_id, f"Unsupported child element '{local}'")
        self.extensions(node, element)
        if kind == "subProcess":
            if node.get("triggeredByEvent", "false").lower() == "true":
                self.fail(element_id, "Event sub-processes are not supported")
                return
            if node.find(_B + "multiInstanceLoopCharacteristics") is not None:
                self.fail(element_id, "Multi-instance activities are not supported")
            self.scope(node, element)
        self.event_definitions(node, element, definitions)
        if kind == "serviceTask" and element.job_type is None:
            self.fail(element_id, "Must have exactly one 'zeebe:taskDefinition' extension element")
        if kind == "receiveTask":
            self.message(node.get("messageRef"), element, needs_key=True)
        if kind == "exclusiveGateway":
            element.default_flow = node.get("default")
        if kind == "boundaryEvent":
            element.attached_to = node.get("attachedToRef")
            element.cancel_activity = node.get("cancelActivity", "true").lower() != "false"

    def event_definitions(
        self, node: ET.Element, element: Element, definitions: list[ET.Element]
    ) -> None:
        kind, element_id = element.kind, element.id
        if kind not in ("startEvent", "endEvent", "intermediateCatchEvent", "boundaryEvent"):
            if definitions:
                self.fail(element_id, "Event definitions are only allowed on events")
            return
        if len(definitions) > 1:
            self.fail(element_id, "Must have at most one event definition")
            return
        definition = definitions[0] if definitions else None
        def_kind = _local(definition.tag) if definition is not None else None
        allowed: dict[str, set[str | None]] = {
            "startEvent": {None, "messageEventDefinition"},
            "endEvent": {None},
            "intermediateCatchEvent": {"messageEventDefinition", "timerEventDefinition"},
            "boundaryEvent": {"messageEventDefinition", "timerEventDefinition"},
        }
        if def_kind not in allowed[kind]:
            what = def_kind or "none"
            self.fail(element_id, f"Event definition '{what}' is not supported on a {kind}")
            return
        if definition is None:
            return
        if def_kind == "messageEventDefinition":
            self.message(definition.get("messageRef"), element, needs_key=kind != "startEvent")
        elif def_kind == "timerEventDefinition":
            self.timer(definition, element)

    def message(self, ref: str | None, element: Element, needs_key: bool) -> None:
        message = self.messages.get(ref or "")
        if message is None:
            self.fail(element.id, f"Must reference a message (messageRef '{ref}' not found)")
            return
        name = message.get("name")
        if not name:
            self.fail(element.id, f"Message '{ref}' must have a name")
            return
        element.message_name = self.expr(element.id, "message name", name)
        start_name = element.message_name if element.kind == "startEvent" else None
        if start_name is not None and start_name.is_feel and start_name.evaluate({}) is None:
            self.fail(element.id, "The message name of a start event must be static")
        subscription = None
        ext = message.find(_B + "extensionElements")
        if ext is not None:
            subscription = ext.find(_Z + "subscription")
        key = subscription.get("correlationKey") if subscription is not None else None
        if needs_key and not key:
            self.fail(
                element.id,
                f"Must have a correlation key: message '{ref}' has no "
                "zeebe:subscription correlationKey",
            )
            return
        if needs_key:
            element.correlation_key = self.expr(element.id, "correlationKey", key)

    def timer(self, definition: ET.Element, element: Element) -> None:
        duration = definition.find(_B + "timeDuration")
        if duration is None:
            self.fail(element.id, "Only timer durations (timeDuration) are supported")
            return
        text = (duration.text or "").strip()
        expr = self.expr(element.id, "timeDuration", text)
        if expr is None:
            return
        if not expr.is_feel:
            try:
                duration_ms(text, 0)
            except (ValueError, isodate.ISO8601Error) as exc:
                self.fail(element.id, f"Invalid timer duration '{text}': {exc}")
                return
        element.timer_duration = expr

    def extensions(self, node: ET.Element, element: Element) -> None:
        ext = node.find(_B + "extensionElements")
        if ext is None:
            return
        definition = ext.find(_Z + "taskDefinition")
        if definition is not None:
            job_type = definition.get("type")
            if not job_type:
                self.fail(element.id, "Attribute 'type' of 'zeebe:taskDefinition' is required")
            else:
                element.job_type = self.expr(element.id, "type", job_type)
            element.job_retries = self.expr(element.id, "retries", definition.get("retries", "3"))
        headers = ext.find(_Z + "taskHeaders")
        if headers is not None:
            for header in headers.findall(_Z + "header"):
                element.headers[header.get("key", "")] = header.get("value", "")
        io = ext.find(_Z + "ioMapping")
        if io is not None:
            element.inputs = self.mappings(element, io, "input")
            element.outputs = self.mappings(element, io, "output")

    def mappings(self, element: Element, io: ET.Element, kind: str) -> tuple[IoMapping, ...]:
        result = []
        for mapping in io.findall(_Z + kind):
            source, target = mapping.get("source"), mapping.get("target")
            if not target:
                self.fail(element.id, f"Attribute 'target' of 'zeebe:{kind}' is required")
                continue
            expr = self.expr(element.id, f"{kind} '{target}'", source if source else "=null")
            if expr is not None:
                result.append(IoMapping(expr, target))
        return tuple(result)

    def flows(self, flows: list[ET.Element], scope: Element) -> None:
        for node in flows:
            flow_id = node.get("id") or "<sequenceFlow without id>"
            source, target = node.get("sourceRef", ""), node.get("targetRef", "")
            problem = False
            for ref, what in ((source, "source"), (target, "target")):
                found = self.elements.get(ref)
                if ref in self.rejected:
                    problem = True
                elif found is None or found.scope_id != scope.id:
                    self.fail(flow_id, f"The {what} '{ref}' is not an element of '{scope.id}'")
                    problem = True
            if problem:
                continue
            condition_node = node.find(_B + "conditionExpression")
            condition = None
            if condition_node is not None and (condition_node.text or "").strip():
                text = condition_node.text or ""
                condition = self.expr(flow_id, "conditionExpression", text.strip())
            flow = Flow(flow_id, source, target, condition)
            self.elements[source].outgoing.append(flow)
            self.elements[target].incoming.append(flow_id)
        for element in [e for e in self.elements.values() if e.scope_id == scope.id]:
            self.check_element_flows(element)

    def check_element_flows(self, element: Element) -> None:
        if element.kind == "startEvent" and element.incoming:
            self.fail(element.id, "A start event must not have incoming sequence flows")
        if element.kind == "endEvent" and element.outgoing:
            self.fail(element.id, "An end event must not have outgoing sequence flows")
        conditional = [f for f in element.outgoing if f.condition is not None]
        if element.kind == "exclusiveGateway":
            ids = {f.id for f in element.outgoing}
            if element.default_flow is not None and element.default_flow not in ids:
                self.fail(element.id, f"Default flow '{element.default_flow}' is not outgoing")
            # a condition on the default flow is allowed and never evaluated (BPMN 2.0, Zeebe)
            for flow in element.outgoing:
                if (
                    flow.id != element.default_flow
                    and flow.condition is None
                    and len(element.outgoing) > 1
                ):
                    self.fail(flow.id, "Must have a condition or be the default flow")
        elif conditional:
            self.fail(
                conditional[0].id,
                "Conditional sequence flows are only supported at exclusive gateways",
            )
        if element.kind == "boundaryEvent":
            attached = self.elements.get(element.attached_to or "")
            if attached is None or attached.scope_id != element.scope_id:
                self.fail(element.id, f"attachedToRef '{element.attached_to}' is not found")
            elif attached.kind not in ACTIVITIES:
                self.fail(element.id, "Boundary events must be attached to an activity")
            else:
                attached.boundary_ids.append(element.id)
            if element.incoming:
                self.fail(element.id, "A boundary event must not have incoming sequence flows")
            if not element.outgoing:
                self.fail(element.id, "A boundary event must have at least one outgoing flow")


def _local(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]
