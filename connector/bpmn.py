"""Read BPMN XML and describe every HTTP polling element in it.

Pure: bytes/str in, frozen descriptions out. No FEEL, no validation of property values
(that is :mod:`connector.elements`' job), so a diagram with one badly configured element
still yields descriptions for all of them.

An element is a *polling element* when it is a message intermediate catch event or a
message boundary event (at any depth: sub-processes, event sub-processes, transactions)
whose ``zeebe:properties`` contain ``inbound.type`` = ``io.camunda:http-polling:1``. That is
exactly what Camunda Modeler writes when the element uses Camunda's HTTP polling template
(any version) or ours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from xml.parsers import expat

from connector.errors import BpmnError as BpmnError  # raised here; defined in the tree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

#: The ``inbound.type`` value that marks an HTTP polling element.
POLLING_TYPE = "io.camunda:http-polling:1"
#: Any version of the polling type; versions other than 1 are reported, not served.
POLLING_TYPE_PREFIX = "io.camunda:http-polling:"

ElementKind = Literal["intermediate", "boundary"]

#: BPMN XML, or a document already parsed by :func:`parse_definitions` (read once, walked
#: by every function that takes a document).
Document = str | bytes | ET.Element

#: Deepest element nesting accepted. Modelled processes stay far below; a deeper document
#: is hostile (per-element scope chains would cost memory quadratic in the depth).
MAX_DEPTH = 2000

_B = "{" + BPMN_NS + "}"
_Z = "{" + ZEEBE_NS + "}"


@dataclass(frozen=True, slots=True)
class PollingElement:
    """One polling element as modelled, before any validation.

    ``properties`` holds the raw ``zeebe:property`` name -> value pairs; when a name
    appears twice the first value wins (as in Camunda's runtime). ``message_name`` and
    ``subscription_correlation_key`` are ``None`` when the element has no message (or the
    message lacks them); :func:`connector.elements.load_elements` reports that.
    """

    process_id: str
    element_id: str
    element_name: str | None
    kind: ElementKind
    attached_to: str | None
    message_name: str | None
    subscription_correlation_key: str | None
    properties: dict[str, str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class UnsupportedElement:
    """A message event whose ``inbound.type`` is a version of ours this worker cannot serve."""

    process_id: str
    element_id: str
    inbound_type: str


@dataclass(frozen=True, slots=True)
class _Message:
    name: str | None
    correlation_key: str | None


def find_polling_elements(
    xml: Document, unsupported: list[UnsupportedElement] | None = None
) -> list[PollingElement]:
    """Return every HTTP polling element of every process in ``xml``, in document order.

    Message events whose ``inbound.type`` is another version of ours
    (``io.camunda:http-polling:2``) are appended to ``unsupported`` when given.
    Raises :class:`BpmnError` when ``xml`` cannot be parsed or is not a BPMN document.
    """
    root = _document(xml)
    messages = _messages(root)
    found: list[PollingElement] = []
    for process in root.iter(_B + "process"):
        process_id = process.get("id", "")
        for node in _flow_nodes(process):
            element = _describe(node, process_id, messages)
            if element is not None:
                found.append(element)
            elif unsupported is not None:
                other = _other_version(node)
                if other is not None:
                    unsupported.append(UnsupportedElement(process_id, node.get("id", ""), other))
    return found


def parse_xml(xml: str | bytes) -> ET.Element:
    """Parse XML that must not declare a DOCTYPE or entities (BPMN never needs them).

    Expat's own DOCTYPE and entity handlers refuse them wherever they are and whatever
    the encoding (a byte search misses UTF-16 and a DOCTYPE after a long comment), so no
    entity is ever expanded. Expat and the tree builder do not recurse, so any nesting
    depth up to :data:`MAX_DEPTH` parses. Raises :class:`BpmnError`.
    """
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    builder = ET.TreeBuilder()
    # "}" as namespace separator gives "uri}local"; "{" is prepended as ElementTree does.
    parser = expat.ParserCreate(namespace_separator="}")

    def name(raw: str) -> str:
        return "{" + raw if "}" in raw else raw

    depth = 0

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise BpmnError(f"elements nested deeper than {MAX_DEPTH} levels")
        builder.start(name(tag), {name(k): v for k, v in attrs.items()})

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(name(tag))

    def forbidden(*_: object) -> int:
        raise BpmnError("BPMN XML must not contain a DOCTYPE or entity declarations")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = forbidden
    parser.EntityDeclHandler = forbidden
    parser.UnparsedEntityDeclHandler = forbidden
    parser.ExternalEntityRefHandler = forbidden
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise BpmnError(
            f"not well-formed XML: {expat.errors.messages[exc.code]}: "
            f"line {exc.lineno}, column {exc.offset}"
        ) from None
    root: ET.Element = builder.close()
    return root


def parse_definitions(xml: str | bytes) -> ET.Element:
    """The ``bpmn:definitions`` root of ``xml`` (:func:`parse_xml`); raises :class:`BpmnError`
    when it cannot be parsed or is not a BPMN document."""
    root = parse_xml(xml)
    if root.tag != _B + "definitions":
        raise BpmnError(f"root element is {root.tag!r}, expected bpmn:definitions")
    return root


def _document(xml: Document) -> ET.Element:
    return xml if isinstance(xml, ET.Element) else parse_definitions(xml)


def _messages(root: ET.Element) -> dict[str, _Message]:
    result: dict[str, _Message] = {}
    for message in root.iter(_B + "message"):
        message_id = message.get("id")
        if not message_id:
            continue
        subscription = message.find(f"{_B}extensionElements/{_Z}subscription")
        key = subscription.get("correlationKey") if subscription is not None else None
        result[message_id] = _Message(name=message.get("name"), correlation_key=key)
    return result


_EVENTS = (_B + "intermediateCatchEvent", _B + "boundaryEvent")
_CONTAINERS = frozenset((_B + "subProcess", _B + "transaction", _B + "adHocSubProcess"))


def _flow_nodes(container: ET.Element) -> Iterator[ET.Element]:
    """Catch and boundary events of ``container`` and of all nested sub-processes.

    Document order; an explicit stack, not recursion, so depth is no problem.
    Stops at nested ``bpmn:process`` elements (never legal, but keeps ids unambiguous).
    """
    stack: list[Iterator[ET.Element]] = [iter(container)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.tag in _EVENTS:
            yield child
        elif child.tag in _CONTAINERS:
            stack.append(iter(child))


def element_ancestors(xml: Document) -> dict[str, tuple[str, ...]]:
    """Element id -> ids of its enclosing sub-processes, innermost first (Zeebe's variable
    scopes). A boundary event gets its activity's ancestors (it lives in the activity's
    scope). The containers are those :func:`find_polling_elements` descends into; walked
    without recursion (any nesting depth). Raises :class:`BpmnError` like it."""
    found: dict[str, tuple[str, ...]] = {}
    for process in _document(xml).iter(_B + "process"):
        stack: list[tuple[ET.Element, tuple[str, ...]]] = [(process, ())]
        while stack:
            node, chain = stack.pop()
            for child in node:
                child_id = child.get("id")
                if child_id:
                    found[child_id] = chain
                if child.tag in _CONTAINERS and child_id:
                    stack.append((child, (child_id, *chain)))
    return found


def _other_version(node: ET.Element) -> str | None:
    """The ``inbound.type`` of a message event that names another version of ours."""
    if node.find(_B + "messageEventDefinition") is None:
        return None
    kind = _properties(node).get("inbound.type", "").strip()
    if kind.startswith(POLLING_TYPE_PREFIX) and kind != POLLING_TYPE:
        return kind
    return None


def _properties(node: ET.Element) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in node.iterfind(f"{_B}extensionElements/{_Z}properties/{_Z}property"):
        name = prop.get("name")
        if name is not None and name not in props:
            props[name] = prop.get("value", "")
    return props


def _describe(
    node: ET.Element, process_id: str, messages: dict[str, _Message]
) -> PollingElement | None:
    definition = node.find(_B + "messageEventDefinition")
    if definition is None:
        return None
    props = _properties(node)
    if props.get("inbound.type", "").strip() != POLLING_TYPE:
        return None
    message = messages.get(definition.get("messageRef", ""), _Message(None, None))
    is_boundary = node.tag == _B + "boundaryEvent"
    return PollingElement(
        process_id=process_id,
        element_id=node.get("id", ""),
        element_name=node.get("name"),
        kind="boundary" if is_boundary else "intermediate",
        attached_to=node.get("attachedToRef") if is_boundary else None,
        message_name=message.name,
        subscription_correlation_key=message.correlation_key,
        properties=props,
    )
