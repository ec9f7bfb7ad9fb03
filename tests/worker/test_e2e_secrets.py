"""End to end through the CLI: no credential reaches a log line, /inbound or another host.

One worker serves several hostile elements at once (a secret in the URL path, endpoints
echoing the request in 500 bodies for every auth type, an OAuth token endpoint echoing its
form, a cross-origin redirect, NaN/1e400 bodies, an unknown type version), with cluster
addresses carrying user info. At the end every canary is searched in the raw log output,
in ``/inbound`` and in what the other origin received.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import quote_plus

import pytest

from connector.devengine.server import DevEngine
from tests.helpers.bpmn import catch_process, polling_properties
from tests.helpers.localserver import LocalServer, Reply, Request, local_server
from tests.worker.harness import WorkerProcess

PATH_SECRET = "path-canary-Wq83"
HEADER_SECRET = "header-canary-Tn27"
API_KEY = "apikey-canary-Pz45"
BEARER = "bearer-canary-Kd19"
BASIC_PASSWORD = "basic+canary/Mx6="  # needs encoding in forms and URLs
CLIENT_SECRET = "client secret&canary=Vb52"
ACCESS_TOKEN = "access-canary-Rj64"
REST_PASSWORD = "restpass-canary-Ye38"
GRPC_PASSWORD = "grpcpass-canary-Uf90"
CANARIES = [
    PATH_SECRET,
    HEADER_SECRET,
    API_KEY,
    BEARER,
    BASIC_PASSWORD,
    CLIENT_SECRET,
    ACCESS_TOKEN,
    REST_PASSWORD,
    GRPC_PASSWORD,
]


def spellings(value: str) -> set[str]:
    return {
        value,
        quote_plus(value),
        json.dumps(value)[1:-1],
        base64.b64encode(f"me:{value}".encode()).decode(),
    }


def leaks(text: str) -> list[str]:
    return [c for c in CANARIES if any(form in text for form in spellings(c))]


def echo(request: Request) -> Reply:
    """An endpoint that copies the request into its error body (a common debug habit)."""
    return Reply(
        500,
        {"headers": request.headers, "query": request.query, "body": request.body.decode()},
    )


@pytest.fixture
def own() -> Iterator[LocalServer]:
    with local_server() as srv:
        srv.route("/echo", echo)
        srv.route("/status/path-canary-Wq83/state", Reply(404, {"error": "no such order"}))
        srv.route("POST /token", lambda r: Reply(500, {"error": "server_error", "form": r.form()}))
        srv.route("POST /token-ok", Reply(200, {"access_token": ACCESS_TOKEN, "expires_in": 300}))
        srv.route("/nan", Reply(200, b'{"status": "done", "level": NaN}'))
        srv.route("/huge", Reply(200, b'{"status": "done", "level": 1e400}'))
        yield srv


@pytest.fixture
def foreign() -> Iterator[LocalServer]:
    with local_server() as srv:
        srv.route("/landing", echo)
        yield srv


def with_auth(url: str, **auth: str) -> dict[str, str]:
    props = polling_properties(url, interval="PT0.3S")
    props.update({f"authentication.{k}": v for k, v in auth.items()})
    return props


def test_no_credential_in_logs_status_or_other_hosts(
    dev: DevEngine, own: LocalServer, foreign: LocalServer
) -> None:
    own.route("/redirect", Reply(302, b"", headers=[("Location", foreign.url + "/landing")]))
    elements: dict[str, dict[str, str]] = {
        "path": polling_properties(own.url + "/status/{{secrets.PATH}}/state", interval="PT0.3S"),
        "header": {
            **polling_properties(own.url + "/echo", interval="PT0.3S"),
            "headers": '={"X-Token": "{{secrets.HEADER}}"}',
        },
        "apikey": with_auth(
            own.url + "/echo", type="apiKey", apiKeyLocation="query", name="key", value=API_KEY
        ),
        "bearer": with_auth(own.url + "/echo", type="bearer", token="{{secrets.BEARER}}"),
        "basic": with_auth(own.url + "/echo", type="basic", username="me", password=BASIC_PASSWORD),
        "oauthfail": with_auth(
            own.url + "/echo",
            type="oauth-client-credentials-flow",
            oauthTokenEndpoint=own.url + "/token",
            clientId="cid",
            clientSecret="{{secrets.CLIENT}}",
            clientAuthentication="credentialsBody",
        ),
        "oauthok": with_auth(
            own.url + "/echo",
            type="oauth-client-credentials-flow",
            oauthTokenEndpoint=own.url + "/token-ok",
            clientId="cid2",
            clientSecret="{{secrets.CLIENT}}",
        ),
        "redirect": {
            **polling_properties(own.url + "/redirect", interval="PT0.3S"),
            "followRedirects": "true",
            "headers": '={"X-Token": "{{secrets.HEADER}}"}',
        },
        "nan": polling_properties(own.url + "/nan", interval="PT0.3S"),
        "huge": polling_properties(own.url + "/huge", interval="PT0.3S"),
    }
    v2 = polling_properties(own.url + "/echo")
    v2["inbound.type"] = "io.camunda:http-polling:2"
    resources = [
        (f"{name}.bpmn", catch_process(name, props).encode()) for name, props in elements.items()
    ]
    resources.append(("v2.bpmn", catch_process("future", v2).encode()))
    dev.engine.deploy(resources)
    instances = {
        name: dev.engine.create_process_instance(name, variables={"id": name}).process_instance_key
        for name in elements
    }
    rest = dev.rest_url.replace("://", f"://me:{REST_PASSWORD}@", 1)
    grpc = f"http://me:{GRPC_PASSWORD}@{dev.grpc_address}"
    secrets = {
        "SECRET_PATH": PATH_SECRET,
        "SECRET_HEADER": HEADER_SECRET,
        "SECRET_BEARER": BEARER,
        "SECRET_CLIENT": CLIENT_SECRET,
    }
    worker = WorkerProcess(grpc, rest, env=secrets)
    try:
        worker.wait_log(lambda r: r.get("message") == "worker started")
        for name in elements:
            worker.wait_log(
                lambda r, n=name: r.get("message") == "poll failed" and r.get("process_id") == n,
                timeout=30,
            )
        worker.wait_log(lambda r: "http-polling:2" in r.get("message", ""), timeout=10)
        assert foreign.hits("/landing"), "the redirect was followed"
        inbound = worker.get("/inbound").text
    finally:
        assert worker.stop() == 0

    # Non-finite numbers: a failed poll naming the element, never a published message.
    for name in ("nan", "huge"):
        record = next(
            r
            for r in worker.logs("poll failed")
            if r.get("process_id") == name and "not valid JSON" in r.get("reason", "")
        )
        assert "element" in record["reason"] and "Wait" in record["reason"]
        assert dev.engine.process_instances(key=instances[name])[0].state == "ACTIVE"

    # The echoing endpoints did get the credentials (the test would prove nothing otherwise).
    echoed = json.dumps([(r.headers, r.query, r.body.decode()) for r in own.requests])
    assert {HEADER_SECRET, API_KEY, ACCESS_TOKEN} <= {c for c in CANARIES if c in echoed}
    assert "Bearer " + BEARER in echoed
    assert quote_plus(CLIENT_SECRET) in echoed

    assert leaks("".join(worker.raw)) == []
    assert leaks(inbound) == []
    assert (
        leaks(json.dumps([(r.raw_path, r.headers, r.body.decode()) for r in foreign.requests]))
        == []
    )
    # The scrubbed places are still there, masked.
    started = worker.logs("worker started")[0]
    assert "***" in started["rest"] and "***" in started["grpc"]
    assert any("***" in str(r.get("reason", "")) for r in worker.logs("poll failed"))
    warning = next(r for r in worker.logs() if "http-polling:2" in r.get("message", ""))
    assert "element 'Wait'" in warning["message"] and "future" in warning["message"]
