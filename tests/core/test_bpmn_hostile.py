"""Hostile BPMN: DOCTYPE/entity tricks, extreme nesting, unknown versions of our type.

Each attack goes through the parser and through the real ``validate`` CLI.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.bpmn import BpmnError, element_ancestors, find_polling_elements, parse_xml
from connector.cli import main
from connector.discovery import DefinitionRef, Discovery
from connector.elements import load_elements
from tests.helpers.bpmn import HEADER, catch_process, polling_properties

ROOT = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:9/status"
CANARY = "ENTITY-CANARY-7f3a"


def _with_entity(prefix: str = "") -> str:
    """A valid polling process whose URL is an internal entity, with ``prefix`` before it."""
    doc = catch_process("p", polling_properties("&canary;"))
    decl, _, rest = doc.partition("\n")
    return f'{decl}\n{prefix}<!DOCTYPE d [<!ENTITY canary "{CANARY}">]>\n{rest}'


ATTACKS = {
    "utf16": _with_entity().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
    # A byte-order mark and no XML declaration.
    "utf16-no-declaration": b"\xff\xfe" + _with_entity().partition("\n")[2].encode("utf-16-le"),
    "after-4k-comment": _with_entity("<!--" + "x" * 5000 + "-->\n").encode(),
    "billion-laughs": (
        b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&c;'
        b"</bpmn:definitions>"
    ),
    "external-entity": (
        b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;'
        b"</bpmn:definitions>"
    ),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_doctype_and_entities_refused_in_any_encoding_or_position(name: str) -> None:
    with pytest.raises(BpmnError, match="DOCTYPE"):
        find_polling_elements(ATTACKS[name])


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_validate_reports_entity_attacks_without_expanding(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{name}.bpmn"
    path.write_bytes(ATTACKS[name])
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "must not contain a DOCTYPE" in out
    assert CANARY not in out + err
    assert "Traceback" not in out + err


def test_utf16_document_without_doctype_still_parses() -> None:
    doc = catch_process("p", polling_properties(URL)).replace(
        'encoding="UTF-8"', 'encoding="UTF-16"'
    )
    [element] = find_polling_elements(doc.encode("utf-16"))
    assert element.properties["url"] == URL


def _nested(depth: int) -> str:
    """A polling catch event inside ``depth`` nested sub-processes."""
    doc = catch_process("deep", polling_properties(URL))
    start = doc.index("    <bpmn:intermediateCatchEvent")
    end = doc.index("</bpmn:intermediateCatchEvent>") + len("</bpmn:intermediateCatchEvent>")
    opening = "".join(f'<bpmn:subProcess id="s{i}">' for i in range(depth))
    closing = "</bpmn:subProcess>" * depth
    return doc[:start] + opening + doc[start:end] + closing + doc[end:]


def test_deep_nesting_is_walked_without_recursion() -> None:
    depth = 1500
    doc = _nested(depth)
    [element] = find_polling_elements(doc)
    assert element.element_id == "Wait"
    ancestors = element_ancestors(doc)
    assert len(ancestors["Wait"]) == depth
    assert ancestors["Wait"][0] == f"s{depth - 1}"
    configs, errors = load_elements(doc)
    assert [c.element_id for c in configs] == ["Wait"] and not errors


def test_absurd_nesting_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _nested(50_000)
    with pytest.raises(BpmnError, match="nested deeper than 2000 levels"):
        find_polling_elements(doc)
    with pytest.raises(BpmnError, match="nested deeper than 2000 levels"):
        element_ancestors(doc)
    path = tmp_path / "deeper.bpmn"
    path.write_text(doc)
    assert main(["validate", str(path)]) == 1
    assert "nested deeper than 2000 levels" in capsys.readouterr().out


def test_validate_cli_on_1500_levels_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.bpmn"
    path.write_text(_nested(1500))
    done = subprocess.run(
        [sys.executable, "-m", "connector.cli", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: 1 polling element(s)" in done.stdout
    assert "Traceback" not in done.stderr


def test_parse_xml_keeps_namespaces_like_elementtree() -> None:
    root = parse_xml(HEADER + '<bpmn:process id="p" zeebe:x="1" plain="2"/></bpmn:definitions>')
    process = root[0]
    assert process.tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}process"
    assert process.get("{http://camunda.org/schema/zeebe/1.0}x") == "1"
    assert process.get("plain") == "2"


def test_unknown_version_of_our_type_is_warned_naming_the_element(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    props = polling_properties(URL)
    props["inbound.type"] = "io.camunda:http-polling:2"
    doc = catch_process("p2", props)
    path = tmp_path / "v2.bpmn"
    path.write_text(doc)

    assert main(["validate", str(path)]) == 0  # a warning, not a configuration error
    _, err = capsys.readouterr()
    assert "warning:" in err
    assert "element 'Wait'" in err and "io.camunda:http-polling:2" in err

    with caplog.at_level(logging.WARNING, logger="connector.elements"):
        configs, errors = load_elements(doc, source="p2 (key 1)")
    assert configs == [] and errors == []
    [record] = [r for r in caplog.records if "http-polling:2" in r.getMessage()]
    assert "element 'Wait'" in record.getMessage()
    assert record.levelno == logging.WARNING


def test_other_connector_types_are_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    props = polling_properties(URL)
    props["inbound.type"] = "io.camunda:webhook:1"
    with caplog.at_level(logging.WARNING, logger="connector.elements"):
        load_elements(catch_process("p", props))
    assert not caplog.records


class _Definitions:
    """A discovery source serving fixed XML documents and no waiting instances."""

    requests_made = 0

    def __init__(self, documents: dict[int, str | bytes]) -> None:
        self.documents = documents

    def definitions(self) -> list[DefinitionRef]:
        return [DefinitionRef(key, f"p{key}", 1, None) for key in self.documents]

    def xml(self, key: int) -> str | bytes:
        return self.documents[key]

    def waiting(self, definitions: object) -> Iterator[object]:
        return iter(())


def test_discovery_goes_on_past_hostile_definitions(caplog: pytest.LogCaptureFixture) -> None:
    # The development engine cannot deploy such documents, so the source is a fake.
    source = _Definitions(
        {
            1: _nested(1500),
            2: ATTACKS["utf16"],
            3: _nested(50_000),
            4: catch_process("plain", polling_properties(URL)),
        }
    )
    discovery = Discovery(source)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="connector.discovery"):
        snapshot = discovery.cycle()
    assert sorted(snapshot.definitions) == [1, 4]
    deep = discovery.definition(1)
    assert deep is not None and list(deep.configs) == ["Wait"]
    assert len(deep.ancestors["Wait"]) == 1500
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "definition 2 (p2) cannot be loaded" in messages and "DOCTYPE" in messages
    assert "definition 3 (p3) cannot be loaded" in messages and "nested deeper" in messages
    assert CANARY not in messages
