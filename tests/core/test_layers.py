"""The layer contract ([tool.importlinter] in pyproject.toml) holds, and catches wrong-way imports.

Runs import-linter on a copy of the package so that an import can be injected; CI also runs
``lint-imports`` on the real tree (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(project: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    only = [arg for contract in contracts for arg in ("--contract", contract)]
    config = str(project / "pyproject.toml")
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo", *only, config],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "connector", tmp_path / "connector", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_holds(project: Path) -> None:
    result = _lint(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "injected", "contract"),
    [
        # a lower layer reaching up
        ("bpmn.py", "import connector.worker", "layers"),
        ("discovery/cycle.py", "import connector.scheduler", "layers"),
        ("pipeline.py", "import connector.worker", "layers"),
        ("cluster_health.py", "import connector.status", "layers"),
        # two stages of one layer depending on each other
        ("binding.py", "import connector.correlation", "layers"),
        ("status.py", "import connector.pipeline", "layers"),
        # inside discovery: the model reaching up to a cycle, one source using the other
        ("discovery/model.py", "import connector.discovery.cycle", "discovery-layers"),
        ("discovery/rest_v2.py", "import connector.discovery.operate_v1", "discovery-layers"),
        # another package going around discovery's public surface
        ("worker.py", "import connector.discovery.cluster", "discovery-public"),
        # the worker depending on the development engine, and the other way round
        ("scheduler.py", "import connector.devengine.server", "worker-without-devengine"),
        ("devengine/engine.py", "import connector.worker", "devengine-standalone"),
        # the engine's interfaces depending on each other
        ("devengine/gateway.py", "from . import rest", "devengine-layers"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(
    project: Path, module: str, injected: str, contract: str
) -> None:
    path = project / "connector" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{injected}  # injected\n")
    # Only the contract that should catch it: the others must not be needed to fail.
    result = _lint(project, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout, result.stdout
