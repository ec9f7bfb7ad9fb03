"""Kubernetes manifests and the compose file against their published schemas, and the
StatefulSet's shard wiring (``--shard-index auto``, ``--shard-count auto`` and its RBAC)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.config import ConfigError, auto_shard_index, load_settings
from connector.kubernetes import StatefulSetRef, statefulset_name

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


def _tool(name: str) -> str:
    found = shutil.which(
        name, path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    )
    if found:
        return found
    if os.environ.get("CI") == "true":  # installed with the test extras: never skip in CI
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
    pytest.skip(f"{name} is not installed")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _manifest(kind: str) -> dict[str, Any]:
    docs = [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]
    (doc,) = [d for d in docs if d.get("kind") == kind]
    return dict(doc)


def _statefulset() -> dict[str, Any]:
    return _manifest("StatefulSet")


def test_kubernetes_manifests_match_the_api_schemas(tmp_path: Path) -> None:
    assert MANIFESTS, "deploy/kubernetes has no manifests"
    tool = _tool("kubernetes-validate")
    result = _run(tool, "--strict", *map(str, MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") >= 7
    for kind in ("ServiceAccount", "Role", "RoleBinding", "StatefulSet"):
        assert f"resource {kind.lower()}/" in result.stdout
    # The validator does reject a wrong manifest (a typo'd field, a string replica count).
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "deploy" / "kubernetes" / "statefulset.yaml").read_text()
    broken.write_text(text.replace("replicas: 2", 'replicas: "2"\n  replica: 2'))
    assert _run(tool, "--strict", str(broken)).returncode != 0
    # ... and a wrong RBAC rule (verb for verbs) too.
    rbac = (ROOT / "deploy" / "kubernetes" / "rbac.yaml").read_text()
    broken.write_text(rbac.replace('verbs: ["get"]', 'verb: ["get"]'))
    assert _run(tool, "--strict", str(broken)).returncode != 0


def test_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    tool = _tool("check-jsonschema")
    result = _run(tool, "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  worker:\n    image: x\n    ports: 9090\n    restart: often\n")
    assert _run(tool, "--builtin-schema", "vendor.compose-spec", str(broken)).returncode != 0


def test_compose_publishes_the_status_port_on_loopback_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = compose["services"]["http-polling-connector"]["ports"]
    assert ports == ["127.0.0.1:9090:9090"]


def test_statefulset_wiring() -> None:
    sts = _statefulset()
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert container["args"] == ["run", "--shard-index", "auto", "--shard-count", "auto"]
    assert "CONNECTOR_SHARD_COUNT" not in env  # the replica count is read, not kept by hand
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    label = env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert label == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"]
    secrets = [s["secretRef"]["name"] for s in container["envFrom"]]
    assert "http-polling-connector-secrets" in secrets
    # The activation journal lives on the pod's own claim, writable by the worker's user.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    assert mounts[env["CONNECTOR_STATE_DIR"]["value"]] in claims
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]


def test_rbac_lets_the_pods_read_their_replica_count_and_nothing_else() -> None:
    sts, account = _statefulset(), _manifest("ServiceAccount")
    role, binding = _manifest("Role"), _manifest("RoleBinding")
    pod = sts["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    assert account["automountServiceAccountToken"] is False  # only where asked for
    # The reader asks for the scale of the StatefulSet named after its pods.
    name = sts["metadata"]["name"]
    assert statefulset_name(f"{name}-{sts['spec']['replicas'] - 1}") == name
    path = StatefulSetRef("ns", name).scale_path
    assert path == f"/apis/apps/v1/namespaces/ns/statefulsets/{name}/scale"
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets/scale"],
            "resourceNames": [name],
            "verbs": ["get"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"]}]


def test_shard_index_auto_from_the_pod() -> None:
    replicas = _statefulset()["spec"]["replicas"]
    for ordinal in range(replicas):
        env = {"HOSTNAME": f"http-polling-connector-{ordinal}", "CONNECTOR_SHARD_INDEX": "auto"}
        env["CONNECTOR_SHARD_COUNT"] = "auto"
        settings = load_settings({}, env=env)
        assert (settings.shard_index, settings.shard_count_auto) == (ordinal, True)
    # The pod-index label wins over the host name; the flag works as the variable does.
    env = {"POD_INDEX": "1", "HOSTNAME": "renamed-7"}
    assert load_settings({"shard_index": "auto", "shard_count": "2"}, env=env).shard_index == 1
    assert auto_shard_index({"HOSTNAME": "web-0"}) == 0
    with pytest.raises(ValueError, match="POD_INDEX='one' is not a pod ordinal"):
        auto_shard_index({"POD_INDEX": "one"})
    # With a count given by hand, a pod ordinal beyond it (replicas raised, count not) is
    # refused.
    with pytest.raises(ConfigError, match="must be between 0 and 1"):
        load_settings({"shard_index": "auto", "shard_count": "2"}, env={"HOSTNAME": "w-2"})


def test_shard_index_auto_outside_a_statefulset_is_a_clear_cli_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("POD_INDEX", "CONNECTOR_POD_INDEX")}
    env["HOSTNAME"] = "laptop"
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "run", "--shard-index", "auto"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "--shard-index=auto: needs a StatefulSet pod" in result.stderr
    assert "HOSTNAME='laptop'" in result.stderr
