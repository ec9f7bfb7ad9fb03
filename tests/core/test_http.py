"""HttpClient against a real local HTTP server: methods, bodies, limits, errors, every auth type."""

from __future__ import annotations

import base64
import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connector.http import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpClient,
    HttpStatusError,
    HttpTransportError,
    OAuthClientCredentials,
    OAuthError,
    OAuthRefreshToken,
    TokenProvider,
)
from connector.http.request import BoundRequest
from tests.helpers.localserver import LocalServer, Reply, Request, local_server


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient() as c:
        yield c


def req(url: str, **kw: object) -> BoundRequest:
    kw.setdefault("connect_timeout", 5.0)
    kw.setdefault("read_timeout", 5.0)
    return BoundRequest(method=str(kw.pop("method", "GET")), url=url, **kw)  # type: ignore[arg-type]


# -- responses ----------------------------------------------------------------------------


def test_json_body_and_headers_as_sent(server: LocalServer, client: HttpClient) -> None:
    server.route(
        "/issue",
        Reply(
            200,
            {"number": 212, "state": "closed"},
            headers=[("X-RateLimit-Remaining", "59"), ("Set-Thing", "a"), ("Set-Thing", "b")],
        ),
    )
    response = client.execute(req(server.url + "/issue"))
    assert response.status == 200
    assert response.reason == "OK"
    assert response.body == {"number": 212, "state": "closed"}
    assert response.headers["X-RateLimit-Remaining"] == "59"
    assert response.headers["Set-Thing"] == ["a", "b"]
    assert response.as_feel() == {
        "status": 200,
        "headers": response.headers,
        "body": {"number": 212, "state": "closed"},
        "reason": "OK",
    }


def test_text_and_empty_bodies(server: LocalServer, client: HttpClient) -> None:
    server.route("/text", Reply(200, "all good", headers=[("Content-Type", "text/plain")]))
    server.route("/empty", Reply(204, b""))
    server.route("/array", Reply(200, b"[1, 2]"))
    assert client.execute(req(server.url + "/text")).body == "all good"
    assert client.execute(req(server.url + "/empty")).body is None
    assert client.execute(req(server.url + "/array")).body == [1, 2]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "POST"])
def test_every_method(server: LocalServer, client: HttpClient, method: str) -> None:
    server.route(f"{method} /m", Reply(200, {"ok": True}))
    response = client.execute(req(server.url + "/m", method=method))
    assert response.status == 200
    assert server.hits("/m")[0].method == method
    assert response.body == (None if method == "HEAD" else {"ok": True})


def test_query_headers_and_json_body(server: LocalServer, client: HttpClient) -> None:
    server.route("POST /search", Reply(200, {}))
    client.execute(
        req(
            server.url + "/search?fixed=1",
            method="POST",
            query=(("q", "a b&c"), ("tag", "x"), ("tag", "y")),
            headers=(("X-Trace", "t-1"), ("Content-Type", "application/json")),
            body=b'{"orderId":"A-1"}',
        )
    )
    hit = server.hits("/search")[0]
    assert hit.query == [("fixed", "1"), ("q", "a b&c"), ("tag", "x"), ("tag", "y")]
    assert hit.headers["X-Trace"] == "t-1"
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.json() == {"orderId": "A-1"}


def test_skip_encoding_sends_url_verbatim(server: LocalServer, client: HttpClient) -> None:
    server.route("/raw", Reply(200, {}))
    client.execute(req(server.url + "/raw?filter=a%2Fb", skip_encoding=True, query=(("x", "1"),)))
    client.execute(req(server.url + "/raw", query=(("filter", "a/b"),)))
    first, second = server.hits("/raw")
    assert first.raw_path == "/raw?filter=a%2Fb&x=1"
    assert second.raw_path == "/raw?filter=a%2Fb"


def test_redirects_followed_only_when_asked(server: LocalServer, client: HttpClient) -> None:
    server.route("/old", Reply(302, b"", headers=[("Location", "/new")]))
    server.route("/new", Reply(200, {"moved": True}))
    kept = client.execute(req(server.url + "/old"))
    assert kept.status == 302
    assert kept.headers["Location"] == "/new"
    followed = client.execute(req(server.url + "/old", follow_redirects=True))
    assert (followed.status, followed.body) == (200, {"moved": True})


# -- failures ----------------------------------------------------------------------------


def test_4xx_5xx_are_status_errors(server: LocalServer, client: HttpClient) -> None:
    server.route("/missing", Reply(404, {"message": "Not Found" + "x" * 500}))
    server.route("/busy", Reply(503, "try later", headers=[("Retry-After", "7")]))
    with pytest.raises(HttpStatusError) as missing:
        client.execute(req(server.url + "/missing?token=abc"))
    assert missing.value.status == 404
    assert missing.value.body_excerpt.startswith('{"message": "Not Found')
    assert len(missing.value.body_excerpt) <= 200
    assert missing.value.retry_after is None
    assert "token=abc" not in str(missing.value)
    with pytest.raises(HttpStatusError) as busy:
        client.execute(req(server.url + "/busy"))
    assert (busy.value.status, busy.value.retry_after) == (503, 7.0)


@pytest.mark.parametrize("chunked", [False, True])
def test_response_size_cap(server: LocalServer, chunked: bool) -> None:
    server.route("/big", Reply(200, b"x" * 5000, chunked=chunked))
    server.route("/small", Reply(200, b"x" * 1000, chunked=chunked))
    with HttpClient(max_response_bytes=4096) as small:
        assert small.execute(req(server.url + "/small")).body == "x" * 1000
        # HEAD announces the size of a body it does not send: not too large.
        assert small.execute(req(server.url + "/big", method="HEAD")).status == 200
        with pytest.raises(HttpTransportError) as exc:
            small.execute(req(server.url + "/big"))
    assert exc.value.kind == "too_large"


def test_read_timeout(server: LocalServer, client: HttpClient) -> None:
    release = threading.Event()

    def slow(_: Request) -> Reply:
        release.wait(10)
        return Reply(200, {})

    server.route("/slow", slow)
    try:
        with pytest.raises(HttpTransportError) as exc:
            client.execute(req(server.url + "/slow", read_timeout=0.3))
        assert exc.value.kind == "read_timeout"
    finally:
        release.set()


def test_connection_refused_hides_query(client: HttpClient) -> None:
    with LocalServerPort() as port:
        url = f"http://127.0.0.1:{port}/x?apikey=SECRET123"
    with pytest.raises(HttpTransportError) as exc:
        client.execute(req(url, auth=ApiKeyAuth("query", "key", "SECRET456")))
    assert exc.value.kind == "connection"
    assert "SECRET" not in str(exc.value)
    assert "SECRET" not in repr(exc.value.args)


class LocalServerPort:
    """A port that was free a moment ago and has nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port: int = self.sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_concurrent_use_reuses_pooled_connections(server: LocalServer, client: HttpClient) -> None:
    server.route("/n", Reply(200, {"ok": True}))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: client.execute(req(server.url + "/n")), range(40)))
    assert all(r.body == {"ok": True} for r in results)
    connections = {h.client_port for h in server.hits("/n")}
    assert len(server.hits("/n")) == 40
    assert len(connections) <= 4  # keep-alive: at most one connection per thread


# -- authentication ---------------------------------------------------------------------


def test_basic_bearer_and_api_keys(server: LocalServer, client: HttpClient) -> None:
    server.route("/a", Reply(200, {}))
    client.execute(req(server.url + "/a", auth=BasicAuth("user", "p:ss")))
    client.execute(req(server.url + "/a", auth=BearerAuth("tok-1")))
    client.execute(req(server.url + "/a", auth=ApiKeyAuth("headers", "X-Api-Key", "k1")))
    client.execute(req(server.url + "/a?x=1", auth=ApiKeyAuth("query", "api_key", "k 2")))
    basic, bearer, header_key, query_key = server.hits("/a")
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"user:p:ss").decode()
    assert bearer.headers["Authorization"] == "Bearer tok-1"
    assert header_key.headers["X-Api-Key"] == "k1"
    assert query_key.query == [("x", "1"), ("api_key", "k 2")]


def test_auth_repr_hides_credentials() -> None:
    shown = repr(
        req(
            "http://h/",
            auth=OAuthClientCredentials("http://t", "id", "S3CRET"),
            headers=(("Authorization", "S3CRET"),),
        )
    )
    assert "S3CRET" not in shown
    assert "S3CRET" not in repr(BasicAuth("u", "S3CRET"))
    assert "S3CRET" not in repr(OAuthRefreshToken("http://t", "id", "S3CRET", "S3CRET"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A local OAuth token endpoint that issues tok-1, tok-2, ... and records each call."""

    def __init__(self, server: LocalServer, expires_in: int | None = 3600) -> None:
        self.calls: list[Request] = []
        self.expires_in = expires_in
        self.fail_with: int | None = None
        server.route("POST /oauth/token", self.handle)
        server.route("/api", self.api)
        self.valid: set[str] = set()
        self.url = server.url + "/oauth/token"

    def handle(self, request: Request) -> Reply:
        self.calls.append(request)
        if self.fail_with is not None:
            return Reply(self.fail_with, {"error": "invalid_client"})
        token = f"tok-{len(self.calls)}"
        self.valid.add(token)
        payload: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            payload["expires_in"] = self.expires_in
        return Reply(200, payload)

    def api(self, request: Request) -> Reply:
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") in self.valid:
            return Reply(200, {"seen": auth})
        return Reply(401, {"error": "bad token"})


def oauth_client(clock: FakeClock) -> HttpClient:
    return HttpClient(token_provider=TokenProvider(margin_seconds=10, clock=clock))


def test_oauth_client_credentials_basic_header_and_cache(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server, expires_in=60)
    clock = FakeClock()
    auth = OAuthClientCredentials(
        endpoint.url, "my-id", "my-secret", audience="orders-api", scopes="read write"
    )
    with oauth_client(clock) as client:
        first = client.execute(req(server.url + "/api", auth=auth))
        clock.now += 49  # still within expires_in - margin
        second = client.execute(req(server.url + "/api", auth=auth))
        clock.now += 2  # past 60 - 10 seconds
        third = client.execute(req(server.url + "/api", auth=auth))
    assert first.body == second.body == {"seen": "Bearer tok-1"}
    assert third.body == {"seen": "Bearer tok-2"}
    assert len(endpoint.calls) == 2
    call = endpoint.calls[0]
    expected = "Basic " + base64.b64encode(b"my-id:my-secret").decode()
    assert call.headers["Authorization"] == expected
    assert call.form() == {
        "grant_type": "client_credentials",
        "audience": "orders-api",
        "scope": "read write",
    }


def test_oauth_client_credentials_in_body(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server)
    auth = OAuthClientCredentials(
        endpoint.url, "my-id", "my-secret", client_authentication="credentialsBody"
    )
    with oauth_client(FakeClock()) as client:
        client.execute(req(server.url + "/api", auth=auth))
    call = endpoint.calls[0]
    assert "Authorization" not in call.headers
    assert call.form() == {
        "grant_type": "client_credentials",
        "client_id": "my-id",
        "client_secret": "my-secret",
    }


def test_oauth_refetched_once_on_401(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server, expires_in=None)  # cached until rejected
    auth = OAuthClientCredentials(endpoint.url, "id", "secret")
    with oauth_client(FakeClock()) as client:
        client.execute(req(server.url + "/api", auth=auth))
        client.execute(req(server.url + "/api", auth=auth))
        assert len(endpoint.calls) == 1
        endpoint.valid.clear()  # the API revokes tok-1
        response = client.execute(req(server.url + "/api", auth=auth))
        assert response.body == {"seen": "Bearer tok-2"}
        assert len(endpoint.calls) == 2
        endpoint.valid.clear()
        endpoint.fail_with = None
        # Still 401 with a fresh token: one refetch only, then the status error.
        server.route("/api", Reply(401, {"error": "never"}))
        with pytest.raises(HttpStatusError) as exc:
            client.execute(req(server.url + "/api", auth=auth))
    assert exc.value.status == 401
    assert len(endpoint.calls) == 3


def test_oauth_endpoint_errors_are_backed_off(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server)
    endpoint.fail_with = 400
    clock = FakeClock()
    auth = OAuthClientCredentials(endpoint.url, "id", "wrong-secret")
    with oauth_client(clock) as client:
        with pytest.raises(OAuthError) as first:
            client.execute(req(server.url + "/api", auth=auth))
        assert first.value.error == "invalid_client"
        assert first.value.status == 400
        assert "wrong-secret" not in str(first.value)
        with pytest.raises(OAuthError, match="next attempt"):
            client.execute(req(server.url + "/api", auth=auth))
        assert len(endpoint.calls) == 1  # the second poll did not hit the endpoint
        clock.now += 1.5
        endpoint.fail_with = None
        assert client.execute(req(server.url + "/api", auth=auth)).status == 200
    assert len(endpoint.calls) == 2
    assert len(server.hits("/api")) == 1


def test_oauth_refresh_token(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server)
    auth = OAuthRefreshToken(endpoint.url, "app", "refresh-1", client_secret="cs", scopes="email")
    with oauth_client(FakeClock()) as client:
        response = client.execute(req(server.url + "/api", auth=auth))
    assert response.body == {"seen": "Bearer tok-1"}
    assert endpoint.calls[0].form() == {
        "grant_type": "refresh_token",
        "client_id": "app",
        "refresh_token": "refresh-1",
        "client_secret": "cs",
        "scope": "email",
    }


def test_oauth_token_is_cached_per_credentials(server: LocalServer) -> None:
    endpoint = TokenEndpoint(server)
    with oauth_client(FakeClock()) as client:
        client.execute(
            req(server.url + "/api", auth=OAuthClientCredentials(endpoint.url, "a", "s"))
        )
        client.execute(
            req(server.url + "/api", auth=OAuthClientCredentials(endpoint.url, "b", "s"))
        )
        client.execute(
            req(server.url + "/api", auth=OAuthClientCredentials(endpoint.url, "a", "s"))
        )
    assert len(endpoint.calls) == 2


def test_proxy_from_environment(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local server plays the proxy: it receives the absolute-form request line.
    server.route("/via-proxy", Reply(200, {"proxied": True}))
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "")
    with HttpClient() as proxied:
        response = proxied.execute(req("http://service.invalid/via-proxy"))
    assert response.body == {"proxied": True}
    assert server.hits("/via-proxy")[0].raw_path == "http://service.invalid/via-proxy"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    args += ["-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]
    args += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [openssl, *args],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def test_tls_verified_against_ca_bundle(certificate: tuple[str, str]) -> None:
    with local_server(tls=certificate) as tls_server:
        tls_server.route("/secure", Reply(200, {"tls": True}))
        with HttpClient() as default_trust, pytest.raises(HttpTransportError) as exc:
            default_trust.execute(req(tls_server.url + "/secure"))
        assert exc.value.kind == "tls"
        with HttpClient(ca_bundle=certificate[0]) as trusting:
            assert trusting.execute(req(tls_server.url + "/secure")).body == {"tls": True}


# -- environment: proxies, NO_PROXY, CA bundle (read once per origin, so test repeats) -----


def proxy_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Set exactly these proxy variables; urllib reads both spellings, lower case wins."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_no_proxy_bypasses_per_origin(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server() as proxy:
        proxy.route("/p", Reply(200, {"via": "proxy"}))
        server.route("/p", Reply(200, {"via": "direct"}))
        port, proxy_port = server.url.rsplit(":", 1)[1], proxy.url.rsplit(":", 1)[1]
        # requests matches NO_PROXY's host:port entries against names, not IP addresses.
        proxy_env(monkeypatch, HTTP_PROXY=proxy.url, NO_PROXY=f"localhost:{port}")
        direct, proxied = f"http://localhost:{port}/p", "http://service.invalid/p"
        # Same host, other port: not covered by NO_PROXY, so it goes through the proxy too.
        same_host = f"http://localhost:{proxy_port}/p"
        with HttpClient() as client:
            for _ in range(2):  # the second round is served from the per-origin cache
                assert client.execute(req(direct)).body == {"via": "direct"}
                assert client.execute(req(proxied)).body == {"via": "proxy"}
                assert client.execute(req(same_host, skip_encoding=True)).body == {"via": "proxy"}
                assert client.execute(req(same_host)).body == {"via": "proxy"}
        assert len(server.hits("/p")) == 2
        assert all(hit.raw_path == "/p" for hit in server.hits("/p"))
        seen = [hit.raw_path for hit in proxy.hits("/p")]
        assert seen == [proxied, same_host, same_host] * 2


def test_no_proxy_wildcard_and_domain_suffix(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server() as proxy:
        proxy.route("/p", Reply(200, {"via": "proxy"}))
        proxy_env(monkeypatch, http_proxy=proxy.url, no_proxy="*")
        with HttpClient() as client, pytest.raises(HttpTransportError) as exc:
            client.execute(req("http://service.invalid/p"))
        assert exc.value.kind == "connection"  # went direct: the name does not resolve
        proxy_env(monkeypatch, http_proxy=proxy.url, no_proxy=".internal.invalid")
        with HttpClient() as client:
            assert client.execute(req("http://api.other.invalid/p")).status == 200
            with pytest.raises(HttpTransportError):
                client.execute(req("http://api.internal.invalid/p"))
        assert [hit.raw_path for hit in proxy.hits("/p")] == ["http://api.other.invalid/p"]


class TunnelProxy:
    """A minimal HTTPS proxy: answers CONNECT and relays bytes; records each target."""

    def __init__(self) -> None:
        import socket

        self.targets: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    break
                head += data
            target = head.split(b" ")[1].decode()
            self.targets.append(target)
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: object, dst: object) -> None:
        import socket

        assert isinstance(src, socket.socket) and isinstance(dst, socket.socket)
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def test_https_proxy_tunnel_with_ca_bundle(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tunnel = TunnelProxy()
    try:
        with local_server(tls=certificate) as tls_server:
            tls_server.route("/secure", Reply(200, {"tls": True}))
            proxy_env(monkeypatch, HTTPS_PROXY=tunnel.url, NO_PROXY="")
            target = tls_server.url.removeprefix("https://")
            with HttpClient(ca_bundle=certificate[0]) as client:
                for _ in range(2):
                    assert client.execute(req(tls_server.url + "/secure")).body == {"tls": True}
            with HttpClient() as untrusting, pytest.raises(HttpTransportError) as exc:
                untrusting.execute(req(tls_server.url + "/secure"))
            assert exc.value.kind == "tls"
            assert tunnel.targets[0] == target
            assert set(tunnel.targets) == {target}
            assert len(tls_server.hits("/secure")) == 2
    finally:
        tunnel.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ca_bundle_from_environment_and_verify_off(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_env(monkeypatch)
    with local_server(tls=certificate) as tls_server:
        tls_server.route("/secure", Reply(200, {"tls": True}))
        url = tls_server.url + "/secure"
        with HttpClient(verify_tls=False) as unverified:
            for _ in range(2):
                assert unverified.execute(req(url)).body == {"tls": True}
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
        with HttpClient() as env_trust:
            for _ in range(2):
                assert env_trust.execute(req(url)).body == {"tls": True}
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
        # The configured bundle wins over the environment's.
        with HttpClient(ca_bundle=certificate[0]) as configured:
            assert configured.execute(req(url)).body == {"tls": True}


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://h:8080/a/b?x=1", "http://h:8080"),
        ("http://h?x=http://other/", "http://h"),
        ("https://u:p@h#frag/x", "https://u:p@h"),
        ("http://[::1]:9/x", "http://[::1]:9"),
        ("no-scheme/x", "no-scheme/x"),
    ],
)
def test_environment_is_cached_per_origin_as_written(url: str, origin: str) -> None:
    from connector.http.client import _origin_of

    assert _origin_of(url) == origin
