"""Connection failures through the CLI: expiring tokens, wrong CA, wrong credentials.

What an operator sees matters here: one clear log line per connectivity change (with the
cause in words), no retry storm (neither in the log nor against the token endpoint), no
gRPC C-core noise on stderr, /health/ready false while an API is down, and recovery once
the configuration is fixed and the worker restarted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from connector import connection_errors as ce
from connector.devengine.server import DevEngine
from tests.helpers.bpmn import catch_process, polling_properties
from tests.worker.connection_support import (
    CLIENT_SECRET,
    Pki,
    engine,
    make_pki,
    oauth_flags,
    oauth_options,
)
from tests.worker.harness import Endpoint, WorkerProcess, until

URL = '=base + "/items/" + id'


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "server")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other"), "other")


def metric(worker: WorkerProcess, name: str) -> float:
    found = re.search(rf"^http_polling_{name} (\S+)$", worker.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def start_instance(dev: DevEngine, endpoint: Endpoint, status: str = "waiting") -> int:
    dev.engine.deploy([("p.bpmn", catch_process("conn", polling_properties(URL)).encode())])
    endpoint.set("/items/c", {"id": "c", "status": status})
    info = dev.engine.create_process_instance("conn", variables={"base": endpoint.url, "id": "c"})
    return int(info.process_instance_key)


def completed(dev: DevEngine, key: int) -> bool:
    return bool(dev.engine.process_instances(key=key)[0].state == "COMPLETED")


def state_lines(worker: WorkerProcess, api: str) -> list[dict[str, Any]]:
    """The connectivity change records of one API ("REST API" or "gRPC gateway")."""
    return [r for r in worker.records if r.get("message", "").startswith(f"cluster {api}")]


def no_noise(worker: WorkerProcess) -> None:
    assert [line for line in worker.raw if not line.lstrip().startswith("{")] == []
    assert CLIENT_SECRET not in "".join(worker.raw)


@pytest.fixture
def oauth_dev() -> Iterator[DevEngine]:
    with engine(oauth_options()) as dev:
        yield dev


def test_token_expiring_during_the_run_loses_no_publish(endpoint: Endpoint) -> None:
    with engine(oauth_options(lifetime=2.0)) as dev:
        key = start_instance(dev, endpoint)
        worker = WorkerProcess(dev.grpc_address, dev.rest_url, *oauth_flags(dev), "--no-grpc-tls")
        try:
            assert dev.issuer is not None
            issuer = dev.issuer
            # Several tokens expire while the worker discovers and polls.
            until(lambda: issuer.issued >= 4, 20, "tokens refreshed before expiry")
            until(lambda: len(endpoint.hits_for("/items/c")) >= 2, what="polls")
            # The cached token becomes invalid before its announced expiry (revoked): the
            # next REST call and the publish each refresh once and go through.
            issuer.revoke_all()
            endpoint.set("/items/c", {"id": "c", "status": "done"})
            until(lambda: completed(dev, key), 20, "published with a refreshed token")
            until(lambda: metric(worker, "correlations_total") == 1, what="one correlation")
            assert metric(worker, "publish_failures_total") == 0
            assert not [r for r in worker.records if "unavailable" in r.get("message", "")]
        finally:
            assert worker.stop() == 0
    no_noise(worker)


def test_wrong_ca_is_one_clear_line_per_api_and_no_retry_storm(
    pki: Pki, other_pki: Pki, endpoint: Endpoint
) -> None:
    with engine(oauth_options(tls=pki.tls)) as dev:
        start_instance(dev, endpoint, "done")
        flags = [*oauth_flags(dev), "--ca-certificate-path", str(other_pki.ca)]
        worker = WorkerProcess(dev.grpc_address, dev.rest_url, *flags)
        try:
            # Many retries (discovery runs every 0.2 s, with backoff) ...
            until(lambda: metric(worker, "discovery_failures_total") >= 4, 30, "retries")
            worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway unavailable", 15)
            assert worker.get("/health/ready").status_code == 503
        finally:
            assert worker.stop() == 0
    # ... but one line per API, naming the cause.
    rest, grpc = state_lines(worker, "REST API"), state_lines(worker, "gRPC gateway")
    assert [r["reason"] for r in rest] == [ce.UNTRUSTED], rest
    assert "CERTIFICATE_VERIFY_FAILED" in rest[0]["detail"]
    assert [r["reason"] for r in grpc] == [ce.UNTRUSTED], grpc
    no_noise(worker)


def test_wrong_ca_without_auth_names_the_certificate(
    pki: Pki, other_pki: Pki, endpoint: Endpoint
) -> None:
    from connector.devengine.server import DevEngineOptions

    with engine(DevEngineOptions(tls=pki.tls)) as dev:
        flags = ["--ca-certificate-path", str(other_pki.ca)]
        worker = WorkerProcess(dev.grpc_address, dev.rest_url, *flags)
        try:
            until(lambda: metric(worker, "discovery_failures_total") >= 4, 30, "retries")
            worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway unavailable", 15)
        finally:
            assert worker.stop() == 0
    rest, grpc = state_lines(worker, "REST API"), state_lines(worker, "gRPC gateway")
    assert [r["reason"] for r in rest] == [ce.UNTRUSTED], rest
    assert [r["reason"] for r in grpc] == [ce.UNTRUSTED], grpc
    no_noise(worker)


def test_tls_against_a_plaintext_gateway_says_so(oauth_dev: DevEngine, endpoint: Endpoint) -> None:
    # OAuth implies TLS unless told otherwise: against the plaintext dev engine that fails,
    # and the log says what to change (the REST address is plain http and works).
    worker = WorkerProcess(oauth_dev.grpc_address, oauth_dev.rest_url, *oauth_flags(oauth_dev))
    try:
        worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway unavailable", 15)
        worker.wait_log(lambda r: r["message"] == "cluster REST API available", 15)
        # Several more discovery cycles, each probing the gateway again.
        until(lambda: metric(worker, "discovery_requests_total") >= 10, 20, "more probes")
        assert worker.get("/health/ready").status_code == 503
    finally:
        assert worker.stop() == 0
    grpc = state_lines(worker, "gRPC gateway")
    assert [r["reason"] for r in grpc] == [ce.TLS_PLAINTEXT_PEER], grpc
    no_noise(worker)


CASES = {
    "no-credentials": ([], ce.NO_CREDENTIALS),
    "wrong-secret": (["--client-secret", "not-the-secret"], ce.TOKEN_CLIENT),
    "wrong-audience": (["--audience", "some-other-api"], ce.TOKEN_REJECTED),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_credentials_are_one_line_per_change_and_recover_after_restart(
    case: str, oauth_dev: DevEngine, endpoint: Endpoint
) -> None:
    dev = oauth_dev
    key = start_instance(dev, endpoint, "done")
    change, reason = CASES[case]
    flags = [] if case == "no-credentials" else oauth_flags(dev) + change
    worker = WorkerProcess(dev.grpc_address, dev.rest_url, *flags, "--no-grpc-tls")
    assert dev.issuer is not None
    rejected_before = dev.issuer.rejected_requests
    try:
        until(lambda: metric(worker, "discovery_failures_total") >= 4, 30, "retries")
        worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway unavailable", 15)
        assert worker.get("/health/ready").status_code == 503
        assert not completed(dev, key)
    finally:
        assert worker.stop() == 0
    rest, grpc = state_lines(worker, "REST API"), state_lines(worker, "gRPC gateway")
    assert [r["reason"] for r in rest] == [reason], rest
    assert [r["reason"] for r in grpc] == [reason], grpc
    # A rejected client is backed off, not hammered, however often discovery runs.
    assert dev.issuer.rejected_requests - rejected_before <= 6
    no_noise(worker)

    fixed = WorkerProcess(dev.grpc_address, dev.rest_url, *oauth_flags(dev), "--no-grpc-tls")
    try:
        until(lambda: completed(dev, key), 20, "recovered with fixed credentials")
        until(lambda: fixed.get("/health/ready").status_code == 200, 15, "ready")
    finally:
        assert fixed.stop() == 0
    assert not [r for r in fixed.records if "unavailable" in r.get("message", "")]


def test_plaintext_client_against_tls_ports_says_so(pki: Pki, endpoint: Endpoint) -> None:
    from connector.devengine.server import DevEngineOptions

    with engine(DevEngineOptions(tls=pki.tls)) as dev:
        rest = dev.rest_url.replace("https://", "http://")
        worker = WorkerProcess(dev.grpc_address, rest, "--no-grpc-tls")
        try:
            until(lambda: metric(worker, "discovery_failures_total") >= 4, 30, "retries")
            worker.wait_log(lambda r: r["message"] == "cluster gRPC gateway unavailable", 15)
        finally:
            assert worker.stop() == 0
    rest_lines, grpc = state_lines(worker, "REST API"), state_lines(worker, "gRPC gateway")
    assert [r["reason"] for r in rest_lines] == [ce.PLAINTEXT_TLS_PEER], rest_lines
    assert [r["reason"] for r in grpc] == [ce.PLAINTEXT_TLS_GATEWAY], grpc
    no_noise(worker)
