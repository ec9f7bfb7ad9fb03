"""Transport choice, contradictions, failure causes and the token interceptor (no processes)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import pytest
import requests

from connector import connection_errors as ce
from connector.config import ConfigError, load_settings
from connector.connection_errors import describe_request_error, explain_grpc, explain_rest
from connector.discovery import ClusterAuth, ClusterError
from connector.http.oauth import TokenProvider
from connector.zeebe_client import AuthMetadataInterceptor, channel_credentials, grpc_target

OIDC = {
    "CAMUNDA_CLIENT_AUTH_CLIENTID": "id",
    "CAMUNDA_CLIENT_AUTH_CLIENTSECRET": "very-secret",
    "CAMUNDA_CLIENT_AUTH_TOKENURL": "http://kc/token",
}


@pytest.mark.parametrize(
    ("flags", "env", "tls"),
    [
        ({}, {}, False),
        ({}, OIDC, True),  # OAuth implies TLS when nothing else says
        ({"grpc_tls": False}, OIDC, False),  # ... but an explicit choice wins (the bug)
        ({}, {**OIDC, "CAMUNDA_CLIENT_GRPC_TLS": "false"}, False),
        ({}, {**OIDC, "CAMUNDA_CLIENT_GRPCADDRESS": "http://zeebe:26500"}, False),
        ({}, {"CAMUNDA_CLIENT_GRPCADDRESS": "https://zeebe:443"}, True),
        ({"grpc_tls": True}, {}, True),
        ({}, {"CAMUNDA_CLIENT_CACERTIFICATEPATH": __file__}, True),
        ({}, {"CAMUNDA_CLUSTER_ID": "abc", **OIDC}, True),
    ],
)
def test_tls_choice(flags: dict[str, Any], env: dict[str, str], tls: bool) -> None:
    assert load_settings(flags, env).grpc_tls is tls


@pytest.mark.parametrize(
    ("flags", "env", "words"),
    [
        ({"grpc_tls": False}, {"CAMUNDA_CLUSTER_ID": "abc", **OIDC}, "--no-grpc-tls"),
        (
            {},
            {"CAMUNDA_CLIENT_GRPC_TLS": "true", "ZEEBE_ADDRESS": "http://zeebe:26500"},
            "CAMUNDA_CLIENT_GRPC_TLS=true contradicts",
        ),
        ({"grpc_tls": False, "grpc_address": "https://z:443"}, {}, "--no-grpc-tls contradicts"),
        (
            {"rest_address": "http://x:8080"},
            {"CAMUNDA_CLUSTER_ID": "abc", **OIDC},
            "needs https://",
        ),
    ],
)
def test_contradictions_are_configuration_errors(
    flags: dict[str, Any], env: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags, env)
    assert any(words in p for p in info.value.problems), info.value.problems
    assert "very-secret" not in str(info.value)


def test_channel_credentials_follow_the_settings() -> None:
    plain = load_settings({"grpc_address": "http://z:26500"}, {})
    assert grpc_target(plain) == "z:26500" and channel_credentials(plain) is None
    tls = load_settings({"grpc_address": "grpcs://z"}, {})
    assert grpc_target(tls) == "z:443" and channel_credentials(tls) is not None


@pytest.mark.parametrize(
    ("code", "details", "method", "cause"),
    [
        (
            "UNAVAILABLE",
            "Ssl handshake failed: WRONG_VERSION_NUMBER",
            "oidc",
            ce.TLS_PLAINTEXT_PEER,
        ),
        ("UNAVAILABLE", "... CERTIFICATE_VERIFY_FAILED ...", "none", ce.UNTRUSTED),
        ("UNAVAILABLE", "DNS resolution failed for nowhere:26500", "none", ce.DNS),
        ("UNAVAILABLE", "failed to connect: Connection refused", "none", ce.REFUSED),
        ("UNAUTHENTICATED", "Missing or invalid credentials", "oidc", ce.TOKEN_REJECTED),
        ("UNAUTHENTICATED", "Missing or invalid credentials", "none", ce.NO_CREDENTIALS),
        ("UNAUTHENTICATED", "bad", "basic", ce.BASIC_REJECTED),
        (
            "UNAUTHENTICATED",
            "token endpoint rejected the client credentials: x",
            "oidc",
            ce.TOKEN_CLIENT,
        ),
        (
            "UNAVAILABLE",
            "token endpoint unreachable: ConnectionError: Connection refused",
            "oidc",
            ce.REFUSED,
        ),
        ("PERMISSION_DENIED", "no", "oidc", ce.FORBIDDEN),
    ],
)
def test_grpc_causes(code: str, details: str, method: str, cause: str) -> None:
    assert explain_grpc(code, details, method).cause == cause


def test_rest_causes() -> None:
    assert explain_rest("GET /v2/x answered 401: no", 401, "oidc").cause == ce.TOKEN_REJECTED
    assert explain_rest("GET /v2/x answered 403: no", 403, "oidc").cause == ce.FORBIDDEN
    assert explain_rest("GET /v2/x answered 503: busy", 503, "none").cause.endswith("503")
    try:
        requests.get("http://127.0.0.1:9/", timeout=5)
    except requests.RequestException as exc:
        message = f"GET /: {describe_request_error(exc)}"
    assert explain_rest(message, None, "none").cause == ce.REFUSED


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any


class _Call:
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    async def code(self) -> grpc.StatusCode:
        return self._code


def test_interceptor_refreshes_once_on_unauthenticated() -> None:
    """A revoked cached token: the call is repeated once with a fresh token, not more."""
    tokens = iter(["t1", "t2", "t3"])
    provider = TokenProvider()
    auth = ClusterAuth(
        method="oidc", client_id="id", client_secret="s", token_url="http://kc", provider=provider
    )
    fetched: list[str] = []

    def fake_token(*_: Any, **__: Any) -> str:
        value = next(tokens)
        fetched.append(value)
        provider._store(provider_key, value, 300.0)
        return value

    from connector.http.oauth import cache_key

    provider_key = cache_key(auth.oauth())
    provider.token = fake_token  # type: ignore[method-assign]
    seen: list[str] = []

    async def continuation(details: Any, request: Any) -> _Call:
        header = dict(details.metadata)["authorization"]
        seen.append(header)
        return _Call(grpc.StatusCode.UNAUTHENTICATED)

    interceptor = AuthMetadataInterceptor(auth)
    details = _Details("/gateway_protocol.Gateway/Topology", None, None, None, None)
    call = asyncio.run(interceptor.intercept_unary_unary(continuation, details, object()))
    assert asyncio.run(call.code()) == grpc.StatusCode.UNAUTHENTICATED
    assert seen == ["Bearer t1", "Bearer t2"]
    assert fetched == ["t1", "t2"]


def test_token_endpoint_failure_is_a_cluster_error_without_secrets() -> None:
    auth = ClusterAuth(
        method="oidc",
        client_id="id",
        client_secret="very-secret",
        token_url="http://127.0.0.1:9/token",
        provider=TokenProvider(),
    )
    with pytest.raises(ClusterError) as info:
        auth.bearer(timeout=5)
    assert info.value.transient
    assert "very-secret" not in str(info.value) and "very-secret" not in repr(auth)
    assert explain_rest(str(info.value), info.value.status, "oidc").cause == ce.REFUSED


def test_grpc_native_logging_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.cli import quiet_grpc_logs

    monkeypatch.delenv("GRPC_VERBOSITY", raising=False)
    quiet_grpc_logs()
    assert os.environ["GRPC_VERBOSITY"] == "NONE"
    monkeypatch.setenv("GRPC_VERBOSITY", "DEBUG")
    quiet_grpc_logs()
    assert os.environ["GRPC_VERBOSITY"] == "DEBUG"


def test_custom_ca_adds_to_the_system_store_for_the_token_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster uses a private CA; the identity provider a publicly trusted certificate
    (here: trusted through the system store, SSL_CERT_FILE). Both verify."""
    from connector.devengine.oauth import OAuthServerConfig, TokenIssuer, TokenServer
    from connector.devengine.tls import server_context
    from connector.zeebe_client import cluster_session
    from tests.worker.connection_support import make_pki

    cluster, public = make_pki(tmp_path / "c", "cluster"), make_pki(tmp_path / "p", "public")
    monkeypatch.setenv("SSL_CERT_FILE", str(public.ca))
    issuer = TokenIssuer(OAuthServerConfig("id", "secret"))
    server = TokenServer(issuer, "127.0.0.1", 0, server_context(str(public.cert), str(public.key)))
    server.start()
    try:
        auth = ClusterAuth(
            method="oidc",
            client_id="id",
            client_secret="secret",
            token_url=f"https://127.0.0.1:{server.port}/oauth/token",
            session=cluster_session(str(cluster.ca)),
            provider=TokenProvider(),
        )
        assert auth.session is not None
        auth.session.verify = str(cluster.ca)  # as the REST client sets it
        assert auth.bearer(timeout=5)
        # Without the extra trust (the CA file alone) the same endpoint is not trusted.
        plain = requests.Session()
        with pytest.raises(requests.exceptions.SSLError):
            plain.post(auth.token_url or "", verify=str(cluster.ca), timeout=5)
    finally:
        server.stop()
    assert issuer.issued == 1


def test_dev_engine_token_issuer_rules() -> None:
    import base64

    from connector.devengine.oauth import OAuthServerConfig, TokenIssuer

    now = [100.0]
    issuer = TokenIssuer(OAuthServerConfig("id", "pw", "api", 2.0), clock=lambda: now[0])
    form = {"grant_type": "client_credentials", "client_id": "id", "client_secret": "pw"}
    assert issuer.token_response({**form, "grant_type": "password"}, None)[0] == 400
    assert issuer.token_response({**form, "client_secret": "no"}, None) == (
        401,
        {"error": "invalid_client", "error_description": "bad client credentials"},
    )
    status, body = issuer.token_response({**form, "audience": "api"}, None)
    assert status == 200 and body["expires_in"] == 2
    token = body["access_token"]
    assert issuer.valid(token) and not issuer.valid(token + "x")
    now[0] += 2.0
    assert not issuer.valid(token)  # expired
    _, other = issuer.token_response({**form, "audience": "other"}, None)
    assert not issuer.valid(other["access_token"])  # wrong audience
    basic = "Basic " + base64.b64encode(b"id:pw").decode()
    _, scoped = issuer.token_response(
        {"grant_type": "client_credentials", "scope": "api/.default"}, basic
    )
    assert issuer.valid(scoped["access_token"])  # Entra style: the scope names the audience
    issuer.revoke_all()
    assert not issuer.valid(scoped["access_token"])
