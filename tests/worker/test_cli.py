"""The command line: --version, validate, configuration errors, and the demo end to end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector import __version__
from connector.cli import main, validate_files
from tests.helpers.bpmn import catch_process, polling_properties
from tests.worker.harness import ROOT

EXAMPLE = ROOT / "connector" / "examples" / "order-status.bpmn"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "ok: 1 polling element(s)" in capsys.readouterr().out


def test_validate_reports_file_element_property(tmp_path: Path) -> None:
    props = polling_properties("=base + ", interval="sometimes")
    bad = tmp_path / "bad.bpmn"
    bad.write_text(catch_process("bad", props), encoding="utf-8")
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<not-bpmn", encoding="utf-8")
    problems, _ = validate_files([str(bad), str(broken), str(tmp_path / "missing.bpmn")])
    assert any(p.startswith(f"{bad}:Wait:url: ") for p in problems)
    assert any(p.startswith(f"{bad}:Wait:httpRequestInterval: ") for p in problems)
    assert any(p.startswith(f"{broken}: not a readable BPMN file") for p in problems)
    assert any(p.startswith(f"{tmp_path / 'missing.bpmn'}: cannot read") for p in problems)
    assert main(["validate", str(bad)]) == 1


def test_run_rejects_bad_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "run", "--shard-count", "0", "--http-port", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--shard-count / CONNECTOR_SHARD_COUNT: must be at least 1" in result.stderr
    assert "--http-port='x': must be a whole number" in result.stderr


def test_demo_runs_to_completion_in_under_a_minute() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "all 3 instances completed" in result.stdout
    assert result.stdout.count("completed: orderStatus=SHIPPED") == 3
    assert elapsed < 60
