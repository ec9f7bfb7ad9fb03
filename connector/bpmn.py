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

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"

#: The ``inbound.type`` value that marks an HTTP polling element.
POLLING_TYPE = "io.camunda:http-polling:1"

ElementKind = Literal["intermediate", "boundary"]

_B = "{" + BPMN_NS + "}"
_Z = "{" + ZEEBE_NS + "}"


class BpmnError(ValueError):
    """The document is not BPMN XML we can read (not XML, or no ``bpmn:definitions``)."""


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
class _Message:
    name: str | None
    correlation_key: str | None


def find_polling_elements(xml: str | bytes) -> list[PollingElement]:
    """Return every HTTP polling element of every process in ``xml``, in document order.

    Raises :class:`BpmnError` when ``xml`` cannot be parsed or is not a BPMN document.
    """
    root = _parse(xml)
    messages = _messages(root)
    found: list[PollingElement] = []
    for process in root.iter(_B + "process"):
        process_id = process.get("id", "")
        for node in _flow_nodes(process):
            element = _describe(node, process_id, messages)
            if element is not None:
                found.append(element)
    return found


def _parse(xml: str | bytes) -> ET.Element:
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    # A DOCTYPE is never needed in BPMN; refusing it rules out entity expansion tricks.
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data:
        raise BpmnError("BPMN XML must not contain a DOCTYPE or entity declarations")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BpmnError(f"not well-formed XML: {exc}") from None
    if root.tag != _B + "definitions":
        raise BpmnError(f"root element is {root.tag!r}, expected bpmn:definitions")
    return root


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


def _flow_nodes(container: ET.Element) -> Iterator[ET.Element]:
    """Catch and boundary events of ``container`` and of all nested sub-processes.

    Stops at nested ``bpmn:process`` elements (never legal, but keeps ids unambiguous).
    """
    for child in container:
        if child.tag in (_B + "intermediateCatchEvent", _B + "boundaryEvent"):
            yield child
        elif child.tag in (_B + "subProcess", _B + "transaction", _B + "adHocSubProcess"):
            yield from _flow_nodes(child)


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
