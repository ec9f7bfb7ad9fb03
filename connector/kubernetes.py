"""The replica count of this pod's StatefulSet, from the Kubernetes API (``--shard-count auto``).

In a pod, the API server is at ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``
and the service-account directory holds the bearer token, the cluster CA and the namespace.
The StatefulSet is named after the pod without its ``-<ordinal>`` suffix; its ``scale``
subresource gives ``spec.replicas`` and needs only ``get`` on ``statefulsets/scale``.

Parsing (pod name, answer, status) is pure and tested on its own; :class:`ReplicaCountReader`
does the one GET. Every failure is a :class:`KubernetesError` whose message says what to fix;
the token never appears in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from connector.errors import ConnectorError
from connector.redaction import register

#: Where the kubelet mounts the service account (token, ca.crt, namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
#: Overrides the directory (a projected token mounted elsewhere; tests).
SERVICE_ACCOUNT_DIR_VARIABLE = "CONNECTOR_SERVICE_ACCOUNT_DIR"
#: Seconds to wait for the API server per request.
REQUEST_TIMEOUT = 5.0

# A StatefulSet pod is named <statefulset>-<ordinal>; the StatefulSet name is a DNS subdomain.
_POD_NAME = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?)-(\d+)")


class KubernetesError(ConnectorError):
    """The replica count could not be read; the message says why and what to fix."""


@dataclass(frozen=True, slots=True)
class StatefulSetRef:
    namespace: str
    name: str

    @property
    def scale_path(self) -> str:
        return f"/apis/apps/v1/namespaces/{self.namespace}/statefulsets/{self.name}/scale"


def pod_name(env: Mapping[str, str]) -> str:
    """This pod's name: ``POD_NAME`` (downward API) if set, else ``HOSTNAME``."""
    return env.get("POD_NAME", "").strip() or env.get("HOSTNAME", "").strip()


def statefulset_name(pod: str) -> str:
    """The StatefulSet owning pod ``<name>-<ordinal>``."""
    match = _POD_NAME.fullmatch(pod)
    if match is None:
        raise KubernetesError(
            f"pod name {pod!r} does not end in -<ordinal>: not a StatefulSet pod "
            "(set POD_NAME from metadata.name, or run the worker in a StatefulSet)"
        )
    return match.group(1)


def replicas_from_scale(body: bytes) -> int:
    """``spec.replicas`` of a ``Scale`` document; at least 1."""
    try:
        document = json.loads(body)
    except ValueError:
        raise KubernetesError("the API server's scale answer is not JSON") from None
    spec = document.get("spec") if isinstance(document, dict) else None
    replicas = spec.get("replicas", 0) if isinstance(spec, dict) else None
    # An absent replicas field means 0 (omitted when empty); a bool is not a count.
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise KubernetesError("the API server's scale answer has no spec.replicas number")
    if replicas < 1:
        raise KubernetesError(
            f"the StatefulSet has {replicas} replicas: the shard count must be at least 1"
        )
    return replicas


def status_problem(status: int, ref: StatefulSetRef) -> str:
    """What a failed answer means for the operator."""
    where = f"StatefulSet {ref.namespace}/{ref.name}"
    if status == 401:
        return (
            "the API server rejected the service-account token (401): is the token mounted "
            "and current (automountServiceAccountToken)?"
        )
    if status == 403:
        return (
            f"forbidden (403) to read the scale of {where}: the pod's service account needs "
            'a Role rule {apiGroups: ["apps"], resources: ["statefulsets/scale"], '
            f'verbs: ["get"], resourceNames: ["{ref.name}"]}} bound to it by a RoleBinding '
            "(deploy/kubernetes/rbac.yaml)"
        )
    if status == 404:
        return f"{where} not found (404): is this pod part of a StatefulSet of that name?"
    return f"the API server answered {status} for the scale of {where}"


@dataclass(frozen=True, slots=True)
class InCluster:
    """Where the API server is and the service-account directory."""

    base_url: str
    account_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InCluster:
        host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
        if not host:
            raise KubernetesError(
                "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set); "
                "give the shard count as a number"
            )
        port = env.get("KUBERNETES_SERVICE_PORT", "").strip() or "443"
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        directory = env.get(SERVICE_ACCOUNT_DIR_VARIABLE, "").strip() or SERVICE_ACCOUNT_DIR
        return cls(f"https://{host}:{port}", Path(directory))

    def _read(self, name: str) -> str:
        path = self.account_dir / name
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise KubernetesError(
                f"cannot read the service account's {name} at {path} ({exc.strerror}): "
                "mount it (automountServiceAccountToken: true)"
            ) from None

    def token(self) -> str:
        # Read on every call: the kubelet rotates the projected token.
        token = self._read("token")
        register(token)  # never in a log line or an error
        return token

    def namespace(self) -> str:
        return self._read("namespace")

    @property
    def ca_file(self) -> str:
        path = self.account_dir / "ca.crt"
        if not path.is_file():
            raise KubernetesError(f"the cluster CA {path} is missing: mount the service account")
        return str(path)


class ReplicaCountReader:
    """Reads ``spec.replicas`` of this pod's StatefulSet; callable, blocking (run it in a
    thread), safe to call from one thread at a time."""

    def __init__(
        self,
        cluster: InCluster,
        ref: StatefulSetRef,
        *,
        session: requests.Session | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.cluster = cluster
        self.ref = ref
        self._session = session or requests.Session()
        # The API server is in the cluster: no proxy from the environment, no ~/.netrc.
        self._session.trust_env = False
        self._timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReplicaCountReader:
        cluster = InCluster.from_env(env)
        name = statefulset_name(pod_name(env))
        return cls(cluster, StatefulSetRef(cluster.namespace(), name))

    def __call__(self) -> int:
        url = self.cluster.base_url + self.ref.scale_path
        headers = {"Authorization": f"Bearer {self.cluster.token()}", "Accept": "application/json"}
        try:
            response = self._session.get(
                url, headers=headers, verify=self.cluster.ca_file, timeout=self._timeout
            )
        except requests.exceptions.SSLError:
            raise KubernetesError(
                f"TLS to the API server {self.cluster.base_url} failed: its certificate is "
                "not signed by the service account's ca.crt"
            ) from None
        except requests.RequestException as exc:
            raise KubernetesError(
                f"the API server {self.cluster.base_url} is unreachable ({type(exc).__name__})"
            ) from None
        with response:
            if response.status_code != 200:
                raise KubernetesError(status_problem(response.status_code, self.ref))
            return replicas_from_scale(response.content)

    def close(self) -> None:
        self._session.close()
