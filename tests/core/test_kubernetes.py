"""Reading the StatefulSet's replica count (``--shard-count auto``): the pure parsing, and the
reader against a fake HTTPS Kubernetes API with a CA of its own and token checking."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.kubernetes import (
    InCluster,
    KubernetesError,
    ReplicaCountReader,
    StatefulSetRef,
    pod_name,
    replicas_from_scale,
    statefulset_name,
    status_problem,
)
from connector.redaction import redact
from tests.helpers.kubeapi import (
    NAMESPACE,
    SCALE_PATH,
    STATEFULSET,
    FakeKubernetes,
    fake_kubernetes,
)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[FakeKubernetes]:
    with fake_kubernetes(tmp_path, replicas=3) as fake:
        yield fake


# -- pod name, StatefulSet name ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod", "statefulset"),
    [
        ("web-0", "web"),
        ("http-polling-connector-12", "http-polling-connector"),
        ("a.b-c-3", "a.b-c"),
        ("worker-7-2", "worker-7"),  # only the last -N is the ordinal
    ],
)
def test_statefulset_name_is_the_pod_name_without_its_ordinal(pod: str, statefulset: str) -> None:
    assert statefulset_name(pod) == statefulset


@pytest.mark.parametrize("pod", ["", "laptop", "web-", "-3", "Web-0", "web-x", "web_1-"])
def test_a_pod_name_without_ordinal_is_refused(pod: str) -> None:
    with pytest.raises(KubernetesError, match="does not end in -<ordinal>: not a StatefulSet pod"):
        statefulset_name(pod)


def test_pod_name_prefers_pod_name_over_hostname() -> None:
    assert pod_name({"POD_NAME": "sts-2", "HOSTNAME": "node-name"}) == "sts-2"
    assert pod_name({"POD_NAME": " ", "HOSTNAME": "sts-1"}) == "sts-1"
    assert pod_name({}) == ""


def test_scale_path() -> None:
    ref = StatefulSetRef("ns", "sts")
    assert ref.scale_path == "/apis/apps/v1/namespaces/ns/statefulsets/sts/scale"


# -- the Scale answer ------------------------------------------------------------------------


def test_replicas_from_scale() -> None:
    assert replicas_from_scale(b'{"kind": "Scale", "spec": {"replicas": 4}}') == 4


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "no spec.replicas number"),
        (b'{"spec": "x"}', "no spec.replicas number"),
        (b'{"spec": {"replicas": "2"}}', "no spec.replicas number"),
        (b'{"spec": {"replicas": true}}', "no spec.replicas number"),
        (b'{"spec": {"replicas": 0}}', "has 0 replicas: the shard count must be at least 1"),
        (b'{"spec": {}}', "has 0 replicas"),  # omitted when zero
        (b'{"spec": {"replicas": -1}}', "has -1 replicas"),
    ],
)
def test_unusable_scale_answers(body: bytes, message: str) -> None:
    with pytest.raises(KubernetesError, match=message):
        replicas_from_scale(body)


def test_status_problems_say_what_to_fix() -> None:
    ref = StatefulSetRef("jobs", "sts")
    forbidden = status_problem(403, ref)
    assert "forbidden (403)" in forbidden and "statefulsets/scale" in forbidden
    assert '"get"' in forbidden and '["sts"]' in forbidden and "RoleBinding" in forbidden
    assert "StatefulSet jobs/sts not found (404)" in status_problem(404, ref)
    assert "rejected the service-account token (401)" in status_problem(401, ref)
    assert "answered 500" in status_problem(500, ref)


# -- where the API is ----------------------------------------------------------------------------


def test_not_in_a_cluster() -> None:
    with pytest.raises(KubernetesError, match="KUBERNETES_SERVICE_HOST is not set"):
        ReplicaCountReader.from_env({"HOSTNAME": "sts-0"})


def test_in_cluster_address_and_directory() -> None:
    cluster = InCluster.from_env({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert cluster.base_url == "https://10.0.0.1:443"
    assert str(cluster.account_dir) == "/var/run/secrets/kubernetes.io/serviceaccount"
    ipv6 = InCluster.from_env(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}
    )
    assert ipv6.base_url == "https://[fd00::1]:6443"


def test_missing_service_account_files(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "HOSTNAME": "sts-0"}
    env["CONNECTOR_SERVICE_ACCOUNT_DIR"] = str(tmp_path)
    with pytest.raises(KubernetesError, match=r"service account's namespace at .*automount"):
        ReplicaCountReader.from_env(env)
    (tmp_path / "namespace").write_text("jobs\n")
    reader = ReplicaCountReader.from_env(env)
    assert reader.ref == StatefulSetRef("jobs", "sts")
    with pytest.raises(KubernetesError, match="service account's token"):
        reader()
    (tmp_path / "token").write_text("t")
    with pytest.raises(KubernetesError, match=r"cluster CA .*ca\.crt is missing"):
        reader()


def test_pod_without_ordinal_names_the_problem(kube: FakeKubernetes) -> None:
    with pytest.raises(KubernetesError, match="pod name 'laptop'"):
        ReplicaCountReader.from_env({**kube.env(), "HOSTNAME": "laptop"})


# -- against the fake API server -----------------------------------------------------------------


def test_reads_the_replica_count_over_verified_tls(kube: FakeKubernetes) -> None:
    reader = ReplicaCountReader.from_env(kube.env(1))
    assert reader.ref == StatefulSetRef(NAMESPACE, STATEFULSET)
    assert reader() == 3
    kube.set(replicas=5)
    assert reader() == 5
    (hit, _) = kube.server.hits(SCALE_PATH)
    assert hit.headers["Authorization"] == "Bearer first-token"
    assert hit.headers["Accept"] == "application/json"


def test_the_token_file_is_read_on_every_call(kube: FakeKubernetes) -> None:
    reader = ReplicaCountReader.from_env(kube.env())
    assert reader() == 3
    kube.rotate_token("rotated-token")  # the server now accepts only the new one
    assert reader() == 3
    assert kube.server.hits(SCALE_PATH)[-1].headers["Authorization"] == "Bearer rotated-token"


def test_token_is_redacted_once_read(kube: FakeKubernetes) -> None:
    kube.rotate_token("very-secret-sa-token-4711")
    ReplicaCountReader.from_env(kube.env())()
    assert "very-secret-sa-token-4711" not in redact("header Bearer very-secret-sa-token-4711")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "forbidden (403) to read the scale of StatefulSet jobs/http-polling-connector"),
        (404, "StatefulSet jobs/http-polling-connector not found"),
        (500, "answered 500"),
    ],
)
def test_error_answers(kube: FakeKubernetes, status: int, message: str) -> None:
    kube.set(status=status)
    with pytest.raises(KubernetesError, match=re.escape(message)) as exc:
        ReplicaCountReader.from_env(kube.env())()
    assert "first-token" not in str(exc.value)


def test_a_rejected_token_is_a_401(kube: FakeKubernetes) -> None:
    reader = ReplicaCountReader.from_env(kube.env())
    kube.accepted_token = "another-token"  # e.g. the file was not refreshed
    with pytest.raises(KubernetesError, match="rejected the service-account token") as exc:
        reader()
    assert "first-token" not in str(exc.value)


def test_bad_json_and_zero_replicas(kube: FakeKubernetes) -> None:
    reader = ReplicaCountReader.from_env(kube.env())
    kube.set(body=b"not json")
    with pytest.raises(KubernetesError, match="not JSON"):
        reader()
    kube.set(replicas=0)
    with pytest.raises(KubernetesError, match="has 0 replicas"):
        reader()


def test_another_ca_is_refused(kube: FakeKubernetes, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with fake_kubernetes(other) as second:
        # The first server's CA does not sign the second server's certificate.
        (second.account_dir / "ca.crt").write_bytes((kube.account_dir / "ca.crt").read_bytes())
        with pytest.raises(KubernetesError, match=r"TLS to the API server .* failed"):
            ReplicaCountReader.from_env(second.env())()


def test_unreachable_api_server(tmp_path: Path, kube: FakeKubernetes) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**kube.env(), "KUBERNETES_SERVICE_PORT": str(port)}
    with pytest.raises(KubernetesError, match=r"API server https://127.0.0.1:\d+ is unreachable"):
        ReplicaCountReader.from_env(env)()
