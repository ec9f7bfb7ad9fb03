"""A fake Kubernetes API server for ``--shard-count auto``: HTTPS with a certificate from an
openssl-made CA, a service-account directory (token, ca.crt, namespace), and the ``scale``
subresource of one StatefulSet answering a replica count the test changes."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.localserver import LocalServer, Reply, Request, local_server

NAMESPACE = "jobs"
STATEFULSET = "http-polling-connector"
SCALE_PATH = f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{STATEFULSET}/scale"


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed to make test certificates"
    subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, the server's
    certificate signed by the CA (as the cluster CA signs the API server's)."""
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *curve,
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
    )
    _openssl("req", "-new", *curve, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=k8s")
    san = directory / "san.ext"
    san.write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(san),
    )  # fmt: skip
    return ca, cert, key


@dataclass
class FakeKubernetes:
    """The API server's state; the route checks the bearer token against the token file."""

    server: LocalServer
    account_dir: Path
    replicas: int = 1
    #: Answer this status instead of the scale (403, 404, 500, ...).
    status: int | None = None
    #: Answer this body instead of a Scale document.
    body: bytes | None = None
    #: The token the server accepts; None: the one in the token file (always current).
    accepted_token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    def rotate_token(self, token: str) -> None:
        """What the kubelet does: a new token in the same file."""
        (self.account_dir / "token").write_text(token)

    def env(self, ordinal: int = 0) -> dict[str, str]:
        """The environment of pod ``<statefulset>-<ordinal>`` in the fake cluster."""
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
            "CONNECTOR_SERVICE_ACCOUNT_DIR": str(self.account_dir),
            "HOSTNAME": f"{STATEFULSET}-{ordinal}",
        }

    def scale_reads(self) -> int:
        return len(self.server.hits(SCALE_PATH))

    def answer(self, request: Request) -> Reply:
        token = self.accepted_token or (self.account_dir / "token").read_text().strip()
        expected = f"Bearer {token}"
        if request.headers.get("Authorization") != expected:
            return Reply(401, {"kind": "Status", "reason": "Unauthorized", "code": 401})
        with self.lock:
            status, body, replicas = self.status, self.body, self.replicas
        if status is not None:
            return Reply(status, {"kind": "Status", "code": status})
        if body is not None:
            return Reply(200, body, [("Content-Type", "application/json")])
        scale = {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": STATEFULSET, "namespace": NAMESPACE},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas},
        }
        return Reply(200, scale)

    def set(
        self, replicas: int | None = None, status: int | None = None, body: bytes | None = None
    ) -> None:
        with self.lock:
            if replicas is not None:
                self.replicas = replicas
            self.status, self.body = status, body


@contextmanager
def fake_kubernetes(directory: Path, replicas: int = 1) -> Iterator[FakeKubernetes]:
    """A running fake API server; ``directory`` receives the certificates and the
    service-account directory (``directory/serviceaccount``)."""
    ca, cert, key = make_ca_and_server_cert(directory)
    account = directory / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("first-token")
    (account / "namespace").write_text(NAMESPACE)
    (account / "ca.crt").write_bytes(ca.read_bytes())
    with local_server(tls=(str(cert), str(key))) as server:
        fake = FakeKubernetes(server, account, replicas=replicas)
        server.route(f"GET {SCALE_PATH}", fake.answer)
        yield fake
