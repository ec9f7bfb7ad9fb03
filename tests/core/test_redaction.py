"""The one redaction point: registry, log formatter, status document, errors of real requests."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import pytest

from connector import redaction
from connector.binding import bind_request
from connector.config import ConfigError, load_settings
from connector.http import HttpClient, HttpStatusError, HttpTransportError, OAuthError
from connector.http.response import NonFiniteNumberError, parse_body
from connector.observability import Metrics, log_event, setup_logging
from connector.secrets import MappingSecretProvider
from connector.status_server import StatusServer
from tests.helpers.elements import load_one
from tests.helpers.localserver import LocalServer, Reply, Request, local_server

CANARY = 'red"act/me+now=9'
SECRETS = MappingSecretProvider({"CANARY": CANARY})


def all_forms_absent(text: str, value: str = CANARY) -> bool:
    basic = base64.b64encode(f"me:{value}".encode()).decode()
    return not any(form in text for form in {*redaction.spellings(value), basic})


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    # The registry is process-wide: values registered by other tests must not mask ours.
    redaction.reset()
    yield
    redaction.reset()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as srv:
        srv.route("/echo", lambda r: Reply(500, {"saw": r.headers, "q": r.query}))
        yield srv


def test_every_spelling_is_masked() -> None:
    redaction.register(CANARY)
    text = " | ".join(sorted(redaction.spellings(CANARY)))
    assert redaction.redact(text).replace("***", "").strip(" |") == ""
    assert redaction.redact(json.dumps({"v": CANARY})) == '{"v": "***"}'


def test_short_values_are_not_registered() -> None:
    redaction.register("abc")
    assert redaction.redact("abc abcd") == "abc abcd"


def test_longest_value_wins() -> None:
    redaction.register("long-secret-1", "long-secret-1-and-more")
    assert redaction.redact("x long-secret-1-and-more y") == "x *** y"


def test_url_user_info_registers_the_secret_part_only() -> None:
    redaction.register_url_credentials(
        "http://admin:pa%24%24word-9@cluster:8080", "https://tok-only-1234@host"
    )
    assert redaction.redact("http://admin:pa%24%24word-9@cluster:8080") == (
        "http://admin:***@cluster:8080"
    )
    assert redaction.redact("pa$$word-9") == "***"
    assert redaction.redact("https://tok-only-1234@host") == "https://***@host"


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_log_lines_are_scrubbed_message_fields_and_traceback(fmt: str) -> None:
    redaction.register(CANARY)
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging(fmt, "INFO", stream)
        log = logging.getLogger("test.redaction")
        log_event(log, f"failed for {CANARY}", url=f"https://h/{CANARY}/x", nested={"k": CANARY})
        try:
            raise ValueError(f"boom {CANARY}")
        except ValueError:
            log.exception("with traceback %s", CANARY)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    output = stream.getvalue()
    assert "failed for ***" in output and "Traceback" in output
    assert all_forms_absent(output)


def test_inbound_document_is_scrubbed() -> None:
    redaction.register(CANARY)
    document = {"elements": [{"pollers": [{"lastError": f"HTTP 404 from https://h/{CANARY}"}]}]}
    status = StatusServer(Metrics(), ready=lambda: True, inbound=lambda: document)
    code, _, body = status.route("/inbound")
    assert code == 200
    assert all_forms_absent(body.decode())
    assert (
        json.loads(body)["elements"][0]["pollers"][0]["lastError"] == "HTTP 404 from https://h/***"
    )


# -- errors of real requests: the endpoint echoes what it received --------------------------


@pytest.mark.parametrize(
    "props",
    [
        {"headers": '={"X-Custom": "{{secrets.CANARY}}"}'},
        {"authentication.type": "bearer", "authentication.token": "{{secrets.CANARY}}"},
        {
            "authentication.type": "basic",
            "authentication.username": "me",
            "authentication.password": "{{secrets.CANARY}}",
        },
        {
            "authentication.type": "apiKey",
            "authentication.apiKeyLocation": "query",
            "authentication.name": "k",
            "authentication.value": "{{secrets.CANARY}}",
        },
    ],
    ids=["header", "bearer", "basic", "apikey-query"],
)
def test_echoed_credentials_are_scrubbed_from_status_errors(
    server: LocalServer, props: dict[str, str]
) -> None:
    request = bind_request(load_one(url=server.url + "/echo", **props), {}, SECRETS)
    with HttpClient() as client, pytest.raises(HttpStatusError) as exc:
        client.execute(request)
    [hit] = server.hits("/echo")
    assert not all_forms_absent(json.dumps([hit.headers, hit.query]))  # it was sent
    assert "***" in str(exc.value)
    assert all_forms_absent(str(exc.value)) and all_forms_absent(exc.value.body_excerpt)


def test_secret_in_url_path_is_scrubbed_from_the_error(server: LocalServer) -> None:
    request = bind_request(load_one(url=server.url + "/orders/{{secrets.CANARY}}"), {}, SECRETS)
    with HttpClient() as client, pytest.raises(HttpStatusError) as exc:
        client.execute(request)
    assert exc.value.status == 404
    assert all_forms_absent(str(exc.value)) and all_forms_absent(exc.value.url)


def test_oauth_token_endpoint_echoing_the_form_is_scrubbed(server: LocalServer) -> None:
    def token(request: Request) -> Reply:
        return Reply(500, {"error": "server_error", "received": request.body.decode()})

    server.route("POST /token", token)
    request = bind_request(
        load_one(
            url=server.url + "/api",
            **{
                "authentication.type": "oauth-client-credentials-flow",
                "authentication.oauthTokenEndpoint": server.url + "/token",
                "authentication.clientId": "cid",
                "authentication.clientSecret": "{{secrets.CANARY}}",
                "authentication.clientAuthentication": "credentialsBody",
            },
        ),
        {},
        SECRETS,
    )
    with HttpClient() as client, pytest.raises(OAuthError) as exc:
        client.execute(request)
    assert "client_secret=***" in str(exc.value)
    assert all_forms_absent(str(exc.value))


def test_cluster_credentials_in_settings_are_registered() -> None:
    load_settings(
        {
            "rest_address": "http://me:rest-pass-4471@127.0.0.1:8080",
            "grpc_address": "http://me:grpc-pass-9912@127.0.0.1:26500",
        },
        env={},
    )
    line = redaction.redact("rest=http://me:rest-pass-4471@x grpc=http://me:grpc-pass-9912@y")
    assert line == "rest=http://me:***@x grpc=http://me:***@y"


# -- non-finite numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ['{"v": NaN}', '{"v": Infinity}', "[-Infinity]", '{"v": 1e400}'])
def test_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(NonFiniteNumberError):
        parse_body(text.encode(), "application/json")


def test_large_but_finite_numbers_still_parse() -> None:
    assert parse_body(b'{"v": 1e300, "n": 123456789012345678901234567890}', None) == {
        "v": 1e300,
        "n": 123456789012345678901234567890,
    }


def test_non_finite_body_fails_the_poll_naming_the_element(server: LocalServer) -> None:
    server.route("/nan", Reply(200, b'{"status": "done", "v": 1e400}'))
    request = bind_request(load_one(url=server.url + "/nan"), {}, SECRETS)
    with HttpClient() as client, pytest.raises(HttpTransportError) as exc:
        client.execute(request)
    assert exc.value.kind == "invalid_body"
    assert request.element in str(exc.value) and "1e400" in str(exc.value)


def test_many_values_use_the_index_with_the_same_results() -> None:
    # Per-instance tokens can make thousands of values; the matcher changes, not the result.
    redaction.register(*(f"token-{n:05d}-abcdef" for n in range(3000)))
    redaction.register("long-secret-1", "long-secret-1-and-more")
    text = 'a token-00007-abcdef b "token-02999-abcdef" long-secret-1-and-more long-secret-1.'
    assert redaction.redact(text) == 'a *** b "***" *** ***.'
    assert redaction.contains_secret("x token-01234-abcdef")
    assert not redaction.contains_secret("token-99999-abcdef")
    assert redaction.redact("nothing here") == "nothing here"


def test_configuration_problems_do_not_quote_user_info() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({"rest_address": "ftp://me:cfg-pass-5531@127.0.0.1:8080"}, env={})
    [problem] = exc.value.problems
    assert "ftp://me:***@127.0.0.1:8080" in problem and "cfg-pass-5531" not in problem
