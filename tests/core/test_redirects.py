"""Redirects and ~/.netrc through the real HTTP stack: credentials never reach another origin.

Requests are bound from real element configurations (so the sensitive markers come from
binding) and sent by :class:`HttpClient` to local servers; "another origin" is a second
server on another port, or the same server under another host name (``localhost``).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector import redaction
from connector.binding import BoundRequest, bind_request
from connector.http import HttpClient, HttpTransportError
from connector.http.client import MAX_REDIRECTS
from connector.secrets import MappingSecretProvider
from tests.helpers.elements import load_one
from tests.helpers.localserver import LocalServer, Reply, Request, local_server

CANARY = "canary-5ecret-Zq81"
SECRETS = MappingSecretProvider({"CANARY": CANARY, "OTHER": "other-s3cret-value"})


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    # The registry is process-wide: values registered by other tests must not mask ours.
    redaction.reset()
    yield
    redaction.reset()


@pytest.fixture
def origin() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


@pytest.fixture
def other() -> Iterator[LocalServer]:
    with local_server() as srv:
        srv.route("/landing", Reply(200, {"landed": True}))
        yield srv


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient() as c:
        yield c


def bound(url: str, **props: str) -> BoundRequest:
    props.setdefault("followRedirects", "true")
    props.setdefault("connectionTimeoutInSeconds", "10")
    props.setdefault("readTimeoutInSeconds", "10")
    return bind_request(load_one(url=url, **props), {}, SECRETS)


def redirect(to: str, status: int = 302) -> Reply:
    return Reply(status, b"", headers=[("Location", to)])


def leaked(request: Request, *values: str) -> list[str]:
    """Where any of ``values`` (or a known encoding) shows up in ``request``."""
    places: list[str] = []
    material = {
        "path": request.raw_path,
        "headers": repr(sorted(request.headers.items())),
        "body": request.body.decode("utf-8", "replace"),
    }
    for value in values:
        forms = {value, base64.b64encode(value.encode()).decode()}
        for where, text in material.items():
            if any(form in text for form in forms):
                places.append(where)
    return places


def test_cross_origin_redirect_drops_every_secret_bearing_part(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    origin.route("/start", redirect(other.url + "/landing?page=2"))
    request = bound(
        origin.url + "/start",
        headers='={"X-Custom": "token {{secrets.CANARY}}", "Accept": "application/json"}',
        queryParameters='={"sig": "{{secrets.OTHER}}", "plain": "1"}',
        **{
            "authentication.type": "apiKey",
            "authentication.apiKeyLocation": "headers",
            "authentication.name": "X-Api-Key",
            "authentication.value": "{{secrets.CANARY}}",
        },
    )
    assert request.sensitive_headers == {"x-custom", "x-api-key"}
    assert request.sensitive_query == {"sig"}

    assert client.execute(request).body == {"landed": True}

    [first] = origin.hits("/start")
    assert first.headers["X-Api-Key"] == CANARY  # the own origin gets what was configured
    assert ("sig", "other-s3cret-value") in first.query
    [landed] = other.hits("/landing")
    assert leaked(landed, CANARY, "other-s3cret-value") == []
    assert landed.headers["Accept"] == "application/json"  # harmless headers still go
    assert landed.query == [("page", "2")]


def test_api_key_in_query_is_dropped_even_when_the_location_echoes_it(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    def echo(request: Request) -> Reply:
        return redirect(f"{other.url}/landing?{request.raw_path.partition('?')[2]}")

    origin.route("/start", echo)
    request = bound(
        origin.url + "/start",
        queryParameters='={"q": "shoes"}',
        **{
            "authentication.type": "apiKey",
            "authentication.apiKeyLocation": "query",
            "authentication.name": "api_key",
            "authentication.value": "{{secrets.CANARY}}",
        },
    )
    client.execute(request)
    assert ("api_key", CANARY) in origin.hits("/start")[0].query
    [landed] = other.hits("/landing")
    assert leaked(landed, CANARY) == []
    assert landed.query == [("q", "shoes")]


@pytest.mark.parametrize(
    "auth",
    [
        {
            "authentication.type": "basic",
            "authentication.username": "me",
            "authentication.password": "{{secrets.CANARY}}",
        },
        {"authentication.type": "bearer", "authentication.token": "{{secrets.CANARY}}"},
        {
            "authentication.type": "oauth-client-credentials-flow",
            "authentication.oauthTokenEndpoint": "{origin}/token",
            "authentication.clientId": "cid",
            "authentication.clientSecret": "{{secrets.OTHER}}",
        },
    ],
    ids=["basic", "bearer", "oauth"],
)
def test_authorization_never_follows_to_another_host_on_the_same_port(
    origin: LocalServer, client: HttpClient, auth: dict[str, str]
) -> None:
    # Same server and port, other host name: still another origin.
    port = origin.url.rsplit(":", 1)[1]
    origin.route("/start", redirect(f"http://localhost:{port}/elsewhere"))
    origin.route("/elsewhere", Reply(200, {"ok": True}))
    origin.route("POST /token", Reply(200, {"access_token": CANARY, "expires_in": 60}))
    props = {k: v.replace("{origin}", origin.url) for k, v in auth.items()}
    client.execute(bound(origin.url + "/start", **props))
    assert "Authorization" in origin.hits("/start")[0].headers
    [landed] = origin.hits("/elsewhere")
    assert "Authorization" not in landed.headers
    assert leaked(landed, CANARY, "other-s3cret-value") == []


def test_307_post_keeps_method_but_not_a_body_with_a_secret(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    origin.route("/start", redirect(other.url + "/landing", 307))
    request = bound(
        origin.url + "/start",
        method="POST",
        body='={"user": "u1", "password": "{{secrets.CANARY}}"}',
    )
    assert request.sensitive_body
    client.execute(request)
    assert CANARY.encode() in origin.hits("/start")[0].body
    [landed] = other.hits("/landing")
    assert landed.method == "POST"
    assert leaked(landed, CANARY) == []


def test_307_post_without_secrets_is_resent_whole(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    origin.route("/start", redirect(other.url + "/landing", 308))
    client.execute(bound(origin.url + "/start", method="POST", body='={"n": 1}'))
    [landed] = other.hits("/landing")
    assert (landed.method, landed.json()) == ("POST", {"n": 1})


def test_secret_transformed_by_feel_still_marks_the_header(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    origin.route("/start", redirect(other.url + "/landing"))
    request = bound(origin.url + "/start", headers='={"X-Sig": upper case("{{secrets.CANARY}}")}')
    assert request.sensitive_headers == {"x-sig"}
    client.execute(request)
    [landed] = other.hits("/landing")
    assert "X-Sig" not in landed.headers
    assert leaked(landed, CANARY.upper()) == []


def test_same_origin_redirect_keeps_credentials(origin: LocalServer, client: HttpClient) -> None:
    origin.route("/start", redirect("/moved"))
    origin.route("/moved", Reply(200, {"here": True}))
    request = bound(
        origin.url + "/start",
        headers='={"X-Custom": "{{secrets.CANARY}}"}',
        **{"authentication.type": "bearer", "authentication.token": "{{secrets.OTHER}}"},
    )
    assert client.execute(request).body == {"here": True}
    [moved] = origin.hits("/moved")
    assert moved.headers["X-Custom"] == CANARY
    assert moved.headers["Authorization"] == "Bearer other-s3cret-value"


def test_redirects_are_capped(origin: LocalServer, client: HttpClient) -> None:
    origin.route("/loop", redirect("/loop"))
    with pytest.raises(HttpTransportError, match=f"more than {MAX_REDIRECTS} redirects"):
        client.execute(bound(origin.url + "/loop"))
    assert len(origin.hits("/loop")) == MAX_REDIRECTS + 1


def test_redirects_not_followed_unless_configured(
    origin: LocalServer, other: LocalServer, client: HttpClient
) -> None:
    origin.route("/start", redirect(other.url + "/landing"))
    response = client.execute(bound(origin.url + "/start", followRedirects="false"))
    assert response.status == 302
    assert other.hits("/landing") == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed to make a test certificate"
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    args += ["-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]
    args += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)
    return cert, key


def test_https_to_http_downgrade_is_refused(
    certificate: tuple[str, str], other: LocalServer
) -> None:
    with local_server(tls=certificate) as secure, HttpClient(ca_bundle=certificate[0]) as client:
        secure.route("/start", redirect(other.url + "/landing"))
        request = bound(secure.url + "/start", headers='={"X-Custom": "{{secrets.CANARY}}"}')
        with pytest.raises(HttpTransportError) as exc:
            client.execute(request)
        assert exc.value.kind == "insecure_redirect"
        assert len(secure.hits("/start")) == 1
    assert other.requests == []


# -- ~/.netrc ------------------------------------------------------------------------------


@pytest.fixture
def netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A .netrc with credentials for 127.0.0.1 and localhost, as a worker machine may have."""
    path = tmp_path / "netrc"
    path.write_text(
        f"machine 127.0.0.1 login machine-user password {CANARY}\n"
        f"machine localhost login machine-user password {CANARY}\n"
    )
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".netrc").write_text(path.read_text())
    (tmp_path / ".netrc").chmod(0o600)
    return str(path)


def test_netrc_credentials_are_never_attached(
    netrc: str, origin: LocalServer, client: HttpClient
) -> None:
    port = origin.url.rsplit(":", 1)[1]
    origin.route("/plain", Reply(200, {"ok": True}))
    origin.route("/start", redirect(f"http://localhost:{port}/plain"))
    client.execute(bound(origin.url + "/plain", followRedirects="false"))
    client.execute(bound(origin.url + "/start"))
    hits = origin.hits("/plain") + origin.hits("/start")
    assert len(hits) == 3
    assert all("Authorization" not in hit.headers for hit in hits)


def test_netrc_not_attached_to_the_oauth_token_request(
    netrc: str, origin: LocalServer, client: HttpClient
) -> None:
    origin.route("POST /token", Reply(200, {"access_token": "tok-abc-123", "expires_in": 60}))
    origin.route("/api", Reply(200, {"ok": True}))
    client.execute(
        bound(
            origin.url + "/api",
            **{
                "authentication.type": "oauth-client-credentials-flow",
                "authentication.oauthTokenEndpoint": origin.url + "/token",
                "authentication.clientId": "cid",
                "authentication.clientSecret": "{{secrets.OTHER}}",
                "authentication.clientAuthentication": "credentialsBody",
            },
        )
    )
    [token] = origin.hits("/token")
    assert "Authorization" not in token.headers
    assert origin.hits("/api")[0].headers["Authorization"] == "Bearer tok-abc-123"


def test_proxy_environment_still_applies(
    monkeypatch: pytest.MonkeyPatch, origin: LocalServer
) -> None:
    # The proxy (our local server) receives the absolute-form request for the target.
    origin.route("/via-proxy", Reply(200, {"proxied": True}))
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, origin.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with HttpClient() as client:
        body: Any = client.execute(bound("http://service.invalid/via-proxy")).body
    assert body == {"proxied": True}


def test_registered_values_mark_a_location_query(origin: LocalServer, other: LocalServer) -> None:
    # A value registered elsewhere (e.g. an access token) in a server-made Location.
    redaction.register("registered-token-xyz")
    origin.route("/start", redirect(other.url + "/landing?t=registered-token-xyz&k=v"))
    with HttpClient() as client:
        client.execute(bound(origin.url + "/start"))
    assert other.hits("/landing")[0].query == [("k", "v")]


def test_ssl_cert_file_is_honoured(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests alone ignores SSL_CERT_FILE (it bundles certifi); the worker honours it.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    with local_server(tls=certificate) as secure, HttpClient() as client:
        secure.route("/ok", Reply(200, {"tls": True}))
        assert client.execute(bound(secure.url + "/ok")).body == {"tls": True}
