"""The connection matrix end to end through the CLI: auth x transport, both APIs.

Each cell starts the development engine protected like a real cluster (basic auth or an
OAuth token endpoint, plaintext or TLS with a throwaway CA), runs ``http-polling-connector
run`` against it and waits until a polled activation is published: discovery proves the
REST API cell, the publish proves the gRPC cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.devengine.server import DevEngine, DevEngineOptions
from tests.helpers.bpmn import catch_process, polling_properties
from tests.worker.connection_support import (
    AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    Pki,
    basic_options,
    engine,
    make_pki,
    oauth_flags,
    oauth_options,
)
from tests.worker.harness import Endpoint, WorkerProcess, until

URL = '=base + "/items/" + id'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def run_cell(
    dev: DevEngine,
    endpoint: Endpoint,
    flags: list[str],
    env: dict[str, str] | None = None,
    *,
    grpc: str | None = None,
) -> WorkerProcess:
    """Deploy, start one instance whose endpoint is already done, and wait for completion."""
    process_id = "conn"
    dev.engine.deploy([("p.bpmn", catch_process(process_id, polling_properties(URL)).encode())])
    endpoint.set("/items/c", {"id": "c", "status": "done"})
    info = dev.engine.create_process_instance(
        process_id, variables={"base": endpoint.url, "id": "c"}
    )
    worker = WorkerProcess(grpc or dev.grpc_address, dev.rest_url, *flags, env=env)
    try:
        until(
            lambda: (
                dev.engine.process_instances(key=info.process_instance_key)[0].state == "COMPLETED"
            ),
            timeout=30,
            what="instance completed through the worker",
        )
        worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway available", 15)
        until(lambda: worker.get("/health/ready").status_code == 200, 15, "ready")
    except BaseException:
        worker.stop()
        raise
    return worker


def assert_clean(worker: WorkerProcess) -> None:
    """Every stderr line is one of our JSON records (no gRPC C-core noise), no secret shown."""
    noise = [line for line in worker.raw if not line.lstrip().startswith("{")]
    assert noise == []
    text = "".join(worker.raw)
    assert CLIENT_SECRET not in text and "demo-pass" not in text
    assert not [r for r in worker.records if "unavailable" in r.get("message", "")]


AUTHS = ("none", "basic", "oauth-audience", "oauth-scope")
TRANSPORTS = ("plaintext", "tls-custom-ca", "tls-system-trust")


def _options(auth: str, tls: Pki | None) -> DevEngineOptions:
    files = tls.tls if tls is not None else None
    if auth == "none":
        return DevEngineOptions(tls=files)
    if auth == "basic":
        return basic_options(files)
    return oauth_options(tls=files)


def _auth_flags(auth: str, dev: DevEngine) -> list[str]:
    if auth == "basic":
        return ["--username", "demo", "--password", "demo-pass"]
    if auth == "oauth-audience":
        return oauth_flags(dev)
    if auth == "oauth-scope":
        # Entra ID style: no audience, the scope names the resource.
        assert dev.token_url is not None
        return [
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--token-url",
            dev.token_url,
            "--scope",
            f"{AUDIENCE}/.default",
        ]
    return []


def _system_trust(ca: Path) -> dict[str, str]:
    """Make the test CA the process's "system" trust store (OpenSSL, requests and gRPC)."""
    return {
        "SSL_CERT_FILE": str(ca),
        "REQUESTS_CA_BUNDLE": str(ca),
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(ca),
    }


@pytest.fixture
def cell_engine(request: pytest.FixtureRequest, pki: Pki) -> Iterator[tuple[str, str, DevEngine]]:
    auth, transport = request.param
    with engine(_options(auth, None if transport == "plaintext" else pki)) as dev:
        yield auth, transport, dev


@pytest.mark.parametrize(
    "cell_engine",
    [(a, t) for a in AUTHS for t in TRANSPORTS],
    indirect=True,
    ids=[f"{a}-{t}" for a in AUTHS for t in TRANSPORTS],
)
def test_matrix_cell(cell_engine: tuple[str, str, DevEngine], endpoint: Endpoint, pki: Pki) -> None:
    auth, transport, dev = cell_engine
    flags = _auth_flags(auth, dev)
    env: dict[str, str] = {}
    grpc = dev.grpc_address
    if transport == "plaintext":
        if auth.startswith("oauth"):
            # The in-cluster Helm/docker-compose setup: OAuth over a plaintext gateway.
            flags.append("--no-grpc-tls")
    elif transport == "tls-custom-ca":
        grpc = f"https://{dev.grpc_address}"  # TLS inferred from the scheme
        flags += ["--ca-certificate-path", str(pki.ca)]
    else:
        flags.append("--grpc-tls")
        env = _system_trust(pki.ca)
    worker = run_cell(dev, endpoint, flags, env, grpc=grpc)
    try:
        if auth.startswith("oauth"):
            assert dev.issuer is not None and dev.issuer.issued >= 1
        inbound = worker.inbound()["cluster"]
        assert inbound["rest"] == "UP" and inbound["grpc"] == "UP"
    finally:
        assert worker.stop() == 0
    assert_clean(worker)


def test_saas_cell(pki: Pki, endpoint: Endpoint) -> None:
    """SaaS: cluster id -> OAuth with the SaaS audience and TLS from the system trust store
    (addresses overridden to point at the local engine)."""
    options = oauth_options(audience="zeebe.camunda.io", tls=pki.tls)
    with engine(options) as dev:
        assert dev.token_url is not None
        flags = [
            "--cluster-id",
            "abc-123",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--token-url",
            dev.token_url,
        ]
        worker = run_cell(dev, endpoint, flags, _system_trust(pki.ca))
        try:
            started = next(r for r in worker.records if r.get("message") == "worker started")
            assert started["rest"] == dev.rest_url
        finally:
            assert worker.stop() == 0
    assert_clean(worker)


def test_dev_engine_cli_serves_oauth_and_tls(pki: Pki, tmp_path: Path) -> None:
    """``http-polling-connector dev-engine --oauth-client-id ... --tls-cert ...`` end to end:
    a token from its endpoint opens the REST API over TLS; a request without one gets 401."""
    import socket
    import subprocess
    import sys

    import requests

    from tests.worker.harness import ROOT

    ports = []
    for _ in range(3):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    grpc_port, rest_port, token_port = ports
    args = [
        sys.executable,
        "-m",
        "connector.cli",
        "dev-engine",
        "--grpc-port",
        str(grpc_port),
        "--rest-port",
        str(rest_port),
        "--token-port",
        str(token_port),
        "--oauth-client-id",
        CLIENT_ID,
        "--oauth-audience",
        AUDIENCE,
        "--token-lifetime",
        "60",
        "--tls-cert",
        str(pki.cert),
        "--tls-key",
        str(pki.key),
    ]
    env = {"DEVENGINE_OAUTH_CLIENT_SECRET": CLIENT_SECRET, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    base = f"https://127.0.0.1:{rest_port}"
    try:

        def token() -> str | None:
            try:
                reply = requests.post(
                    f"https://127.0.0.1:{token_port}/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "audience": AUDIENCE,
                    },
                    verify=str(pki.ca),
                    timeout=5,
                )
            except requests.ConnectionError:
                assert proc.poll() is None, "dev engine exited"
                return None
            assert reply.status_code == 200
            value: str = reply.json()["access_token"]
            return value

        access = until(token, 20, "token endpoint up")
        search = f"{base}/v2/process-definitions/search"
        denied = requests.post(search, json={}, verify=str(pki.ca), timeout=5)
        assert denied.status_code == 401
        allowed = requests.post(
            search,
            json={},
            headers={"Authorization": f"Bearer {access}"},
            verify=str(pki.ca),
            timeout=5,
        )
        assert allowed.status_code == 200, allowed.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert CLIENT_SECRET not in err
