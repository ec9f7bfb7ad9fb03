"""One URL rule for endpoints, token endpoints and cluster addresses (connector/urls.py)."""

from __future__ import annotations

import pytest

from connector.bpmn import PollingElement
from connector.elements import build_config
from connector.urls import url_problem


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "HTTPS://Example.COM:8443/a b?q=1", "http://[::1]:80/x", "http://a/"],
)
def test_callable_urls(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/", "absolute http:// or https:// URL"),
        ("example.com/x", "absolute http:// or https:// URL"),
        ("http://:80/", "absolute http:// or https:// URL"),  # a port but no host
        ("http://user:pw@/x", "absolute http:// or https:// URL"),
        ("http://[::1", "host is malformed"),  # urlsplit raises
        ("http://a:99999/", "port is not a number"),
        ("http://a:xx/", "port is not a number"),
        ("http://ex ample.com/", "host contains spaces"),
        ("http://exa\nmple.com/", "without control characters"),  # urlsplit would drop the newline
    ],
)
def test_refused_urls_say_why_without_quoting_the_url(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None and why in problem
    assert url.strip() not in problem


@pytest.mark.parametrize("url", ["http://[::1", "http://a:99999/", "http://:80/"])
def test_a_bad_literal_url_is_an_element_error_not_an_exception(url: str) -> None:
    element = PollingElement(
        process_id="p",
        element_id="Wait",
        element_name=None,
        kind="intermediate",
        attached_to=None,
        message_name="m",
        subscription_correlation_key="=x",
        properties={"inbound.type": "io.camunda:http-polling:1", "url": url},
    )
    config, errors = build_config(element)
    assert config is None
    [error] = [error for error in errors if error.property == "url"]
    assert error.element_id == "Wait" and "URL" in error.reason
