"""Binding an element's request to one instance: scopes, FEEL, secrets, bodies, auth."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.binding import BindingError, BoundRequest, bind_request, merge_scopes
from connector.elements import ElementConfig
from connector.http import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuthClientCredentials,
    OAuthRefreshToken,
)
from connector.secrets import MappingSecretProvider
from tests.helpers.elements import load_one

SECRETS = MappingSecretProvider({"TOKEN": "t0k", "QUOTED": 'a"b\\c', "PASSWORD": "pw"})


def bind(variables: dict[str, Any] | None = None, **props: str) -> BoundRequest:
    return bind_request(load_one(**props), variables or {}, SECRETS)


def bind_error(variables: dict[str, Any] | None = None, **props: str) -> BindingError:
    with pytest.raises(BindingError) as exc:
        bind(variables, **props)
    return exc.value


def test_merge_scopes_innermost_wins() -> None:
    local = {"a": 1}
    sub = {"a": 2, "b": 2}
    process = {"a": 3, "b": 3, "c": 3}
    assert merge_scopes([local, sub, process]) == {"a": 1, "b": 2, "c": 3}
    assert merge_scopes([]) == {}


def test_literal_request() -> None:
    req = bind()
    assert (req.method, req.url) == ("GET", "https://api.example.com/orders")
    assert req.query == () and req.headers == () and req.body is None
    assert req.auth == NoAuth()
    assert (req.connect_timeout, req.read_timeout) == (20, 20)
    assert req.element == "process 'p' element 'e0'"


def test_feel_fields_use_instance_variables() -> None:
    req = bind(
        {"orderId": 42, "base": "https://shop.example", "page": 2, "tags": ["a", "b"]},
        url='=base + "/orders/" + string(orderId)',
        queryParameters="={page: page, tag: tags, skip: null, flag: true}",
        headers='={"X-Order": orderId, "Accept": "application/json"}',
    )
    assert req.url == "https://shop.example/orders/42"
    assert req.query == (("page", "2"), ("tag", "a"), ("tag", "b"), ("flag", "true"))
    assert req.headers == (("X-Order", "42"), ("Accept", "application/json"))


def test_literal_json_maps_are_parsed_like_the_reference() -> None:
    req = bind(headers='{"X-A": "1"}', queryParameters='{"q": "x"}')
    assert req.headers == (("X-A", "1"),)
    assert req.query == (("q", "x"),)


@pytest.mark.parametrize(
    ("body", "variables", "sent", "content_type"),
    [
        ("={orderId: id, items: [1, 2]}", {"id": "A"}, {"orderId": "A", "items": [1, 2]}, True),
        ('{"literal": true}', {}, {"literal": True}, True),
        ("plain text", {}, "plain text", True),
        ("=null", {}, None, False),
    ],
)
def test_bodies(body: str, variables: dict[str, Any], sent: Any, content_type: bool) -> None:
    req = bind(variables, method="POST", body=body)
    if sent is None:
        assert req.body is None
    elif isinstance(sent, str):
        assert req.body == sent.encode()
    else:
        assert req.body is not None and json.loads(req.body) == sent
    assert (("Content-Type", "application/json") in req.headers) is content_type


def test_body_ignored_for_get_and_kept_content_type() -> None:
    assert bind(body="={a: 1}").body is None
    req = bind(method="PUT", body="={a: 1}", headers='={"content-type": "application/vnd+json"}')
    assert req.headers == (("content-type", "application/vnd+json"),)


def test_form_body() -> None:
    req = bind(
        method="POST",
        body='={a: "x y", b: 2}',
        headers='={"Content-Type": "application/x-www-form-urlencoded"}',
    )
    assert req.body == b"a=x+y&b=2"


def test_method_from_feel_and_lowercase_literal() -> None:
    assert bind({"m": "patch"}, method="=m").method == "PATCH"
    assert bind(method="delete").method == "DELETE"
    assert bind_error({"m": "FETCH"}, method="=m").property == "method"


def test_secrets_in_literals_and_feel() -> None:
    req = bind(
        url='="https://h/x?k={{secrets.QUOTED}}&t=" + secrets.TOKEN',
        headers='={"Authorization": "Bearer {{secrets.TOKEN}}"}',
    )
    assert req.url == 'https://h/x?k=a"b\\c&t=t0k'
    assert req.headers == (("Authorization", "Bearer t0k"),)
    basic = bind(
        **{
            "authentication.type": "basic",
            "authentication.username": "u",
            "authentication.password": "{{secrets.PASSWORD}}",
        }
    )
    assert basic.auth == BasicAuth("u", "pw")


def test_missing_secret_names_it_and_never_empties() -> None:
    error = bind_error(url="https://h/{{secrets.NOPE}}")
    assert error.property == "url"
    assert "NOPE" in str(error)
    assert "process 'p' element 'e0'" in str(error)


def test_errors_never_show_values() -> None:
    error = bind_error({"u": "ftp://t0k@host"}, url="=u")
    assert "t0k" not in str(error)
    assert error.property == "url"
    error = bind_error(url='="ftp://" + secrets.TOKEN')
    assert "t0k" not in str(error)
    assert error.property == "url"


@pytest.mark.parametrize(
    ("props", "variables", "prop"),
    [
        ({"url": "=missing"}, {}, "url"),
        ({"url": "=42"}, {}, "url"),
        ({"headers": '="not a map"'}, {}, "headers"),
        ({"queryParameters": "=[1, 2]"}, {}, "queryParameters"),
        ({"connectionTimeoutInSeconds": "=t"}, {"t": -1}, "connectionTimeoutInSeconds"),
        ({"readTimeoutInSeconds": '="x"'}, {}, "readTimeoutInSeconds"),
        (
            {"authentication.type": "bearer", "authentication.token": "=tok"},
            {},
            "authentication.token",
        ),
    ],
)
def test_binding_errors_name_the_property(
    props: dict[str, str], variables: dict[str, Any], prop: str
) -> None:
    assert bind_error(variables, **props).property == prop


def test_timeouts() -> None:
    req = bind({"t": 3}, connectionTimeoutInSeconds="0", readTimeoutInSeconds="=t")
    assert (req.connect_timeout, req.read_timeout) == (None, 3)  # 0 = no timeout
    assert bind({"t": 7}, readTimeoutInSeconds="=t").read_timeout == 7
    only_connect = bind(connectionTimeoutInSeconds="5")
    assert (only_connect.connect_timeout, only_connect.read_timeout) == (5, 5)


def test_every_auth_type() -> None:
    auths = {
        "bearer": (
            {"authentication.token": "{{secrets.TOKEN}}"},
            BearerAuth("t0k"),
        ),
        "apiKey": (
            {
                "authentication.name": "X-Key",
                "authentication.value": "=key",
                "authentication.apiKeyLocation": "query",
            },
            ApiKeyAuth("query", "X-Key", "k-1"),
        ),
        "basic": (
            {
                "authentication.username": "u",
                "authentication.password": "SPEC_PASSWORD_EMPTY_PATTERN",
            },
            BasicAuth("u", ""),
        ),
        "oauth-client-credentials-flow": (
            {
                "authentication.oauthTokenEndpoint": "=tokenUrl",
                "authentication.clientId": "id",
                "authentication.clientSecret": "{{secrets.TOKEN}}",
                "authentication.audience": "aud",
                "authentication.scopes": "a b",
            },
            OAuthClientCredentials("https://idp/token", "id", "t0k", "aud", "a b"),
        ),
        "oauth-refresh-token": (
            {
                "authentication.oauthTokenEndpoint": "https://idp/token",
                "authentication.clientId": "id",
                "authentication.refreshToken": "r-1",
            },
            OAuthRefreshToken("https://idp/token", "id", "r-1"),
        ),
    }
    variables = {"key": "k-1", "tokenUrl": "https://idp/token"}
    for auth_type, (props, expected) in auths.items():
        req = bind(variables, **{"authentication.type": auth_type, **props})
        assert req.auth == expected, auth_type


def test_oauth_endpoint_must_be_a_url() -> None:
    error = bind_error(
        {"tokenUrl": "not a url"},
        **{
            "authentication.type": "oauth-refresh-token",
            "authentication.oauthTokenEndpoint": "=tokenUrl",
            "authentication.clientId": "id",
            "authentication.refreshToken": "r",
        },
    )
    assert error.property == "authentication.oauthTokenEndpoint"


@pytest.mark.parametrize("url", ["http://[::1", "http://h:99999/", "http://h\n.example/"])
def test_a_bound_url_that_cannot_be_called_is_a_binding_error(url: str) -> None:
    # urlsplit raises (or silently rewrites) on these: the poll must fail with the element's
    # error, never with a ValueError out of the pipeline
    error = bind_error({"u": url}, url="=u")
    assert error.property == "url" and "URL" in error.reason
    oauth = bind_error(
        {"tokenUrl": url},
        **{
            "authentication.type": "oauth-refresh-token",
            "authentication.oauthTokenEndpoint": "=tokenUrl",
            "authentication.clientId": "id",
            "authentication.refreshToken": "r",
        },
    )
    assert oauth.property == "authentication.oauthTokenEndpoint"


def test_coalesce_key() -> None:
    config: ElementConfig = load_one(url='="https://h/" + x', headers='={"A": a}')
    one = bind_request(config, {"x": "1", "a": "v", "unrelated": 1}, SECRETS)
    same = bind_request(config, {"x": "1", "a": "v", "unrelated": 2}, SECRETS)
    other = bind_request(config, {"x": "2", "a": "v"}, SECRETS)
    assert one.coalesce_key == same.coalesce_key
    assert one.coalesce_key != other.coalesce_key
    hash(one.coalesce_key)
    bearer = load_one(**{"authentication.type": "bearer", "authentication.token": "=tok"})
    keys = {bind_request(bearer, {"tok": t}, SECRETS).coalesce_key for t in ("a", "b", "a")}
    assert len(keys) == 2  # auth is part of the key
    assert "t0k" not in bind_request(bearer, {"tok": "t0k"}, SECRETS).coalesce_key


def test_repr_hides_url_query_headers_and_body() -> None:
    req = bind(
        method="POST",
        url="https://h/path?key={{secrets.TOKEN}}",
        headers='={"X-Key": "{{secrets.TOKEN}}"}',
        body='={"k": "{{secrets.TOKEN}}"}',
    )
    assert "t0k" not in repr(req)
    assert "https://h/path" in repr(req)
    assert "t0k" not in repr(load_one(**{"authentication.password": "t0k"}))


VALUES: list[Any] = [None, "", "x", "https://h/", 0, -1, 1.5, True, [], [None], {}, {"a": None}]
VALUES += [{"a": [1, {"b": 2}]}, "ftp://h", 10**30]


@pytest.mark.parametrize(
    "props",
    [
        {"url": "=v"},
        {"method": "=v"},
        {"headers": "=v"},
        {"queryParameters": "=v"},
        {"method": "POST", "body": "=v"},
        {"connectionTimeoutInSeconds": "=v", "readTimeoutInSeconds": "=v"},
        {"authentication.type": "basic", "authentication.username": "=v"},
        {"authentication.type": "bearer", "authentication.token": "=v"},
        {
            "authentication.type": "oauth-client-credentials-flow",
            "authentication.oauthTokenEndpoint": "=v",
            "authentication.clientId": "=v",
            "authentication.clientSecret": "=v",
        },
    ],
)
def test_any_variable_value_binds_or_fails_cleanly(props: dict[str, str]) -> None:
    config = load_one(**props)
    for value in VALUES:
        try:
            bind_request(config, {"v": value}, SECRETS)
        except BindingError as exc:
            assert exc.property in {*props, "?"}, (props, value)
