"""Both element templates pass the validator Camunda Modeler uses, and match the code."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connector.elements import KNOWN_PROPERTIES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [
    ROOT / "element-templates" / "http-polling-connector.json",
    ROOT / "element-templates" / "http-polling-boundary-connector.json",
]
SCRIPT = Path(__file__).with_name("validate.cjs")
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "@bpmn-io" / "element-templates-validator").is_dir():
        pytest.skip("node or @bpmn-io/element-templates-validator not installed (see .ci/run)")
    return subprocess.run(
        [node, str(SCRIPT), str(NODE_MODULES), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_templates_are_valid() -> None:
    result = _validate(*TEMPLATES)
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(reports) == 2, result.stderr
    for report in reports:
        assert report["valid"], report
        assert report["errors"] == [], report
    assert result.returncode == 0


def test_validator_rejects_a_broken_template(tmp_path: Path) -> None:
    # Proves the check above can fail: a property with an unknown type is an error.
    broken = _load(TEMPLATES[0])
    broken["properties"][1]["type"] = "NoSuchType"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = _validate(path)
    report = json.loads(result.stdout.splitlines()[0])
    assert result.returncode == 1
    assert not report["valid"]
    assert report["errors"]


def _bindings(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        p["binding"]["name"]: p
        for p in template["properties"]
        if p["binding"]["type"] == "zeebe:property"
    }


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_matches_the_code(path: Path) -> None:
    template = _load(path)
    bindings = _bindings(template)
    assert set(bindings) <= KNOWN_PROPERTIES
    assert bindings["inbound.type"]["value"] == "io.camunda:http-polling:1"
    assert bindings["httpRequestInterval"]["value"] == "PT50S"
    assert bindings["connectionTimeoutInSeconds"]["value"] == "20"
    assert bindings["readTimeoutInSeconds"]["value"] == "20"
    auth_choices = {c["value"] for c in bindings["authentication.type"]["choices"]}
    assert auth_choices == {
        "noAuth",
        "basic",
        "bearer",
        "apiKey",
        "oauth-client-credentials-flow",
        "oauth-refresh-token",
    }
    others = {p["binding"]["type"]: p["binding"]["name"] for p in template["properties"]}
    assert others["bpmn:Message#zeebe:subscription#property"] == "correlationKey"
    assert others["bpmn:Message#property"] == "name"
    assert template["icon"]["contents"].startswith("data:image/svg+xml")


def test_both_templates_share_their_properties() -> None:
    first, second = (_load(p) for p in TEMPLATES)
    assert first["properties"] == second["properties"]
    assert first["elementType"]["value"] == "bpmn:IntermediateCatchEvent"
    assert second["elementType"]["value"] == "bpmn:BoundaryEvent"
    assert first["id"] != second["id"]
