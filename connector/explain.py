"""``http-polling-connector explain``: why does (or doesn't) a polling element fire?

Given a BPMN file, a polling element (optional when the file has one), instance variables
and the secrets of the environment, it binds the request exactly as the worker does
(:func:`connector.binding.bind_request`), sends it once (or every interval with
``--watch``) with the worker's HTTP client, and evaluates the response with the worker's
correlation code. It prints the request (credentials masked), the response, the activation
condition's value and, when it is not ``true``, why; then the correlation key, message id,
TTL and the variables that would be published. Nothing is published unless ``--publish``.

The explanation is built by pure functions returning plain dicts (``--json`` prints them);
sending, printing and publishing stay in :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from connector.binding import BindingError, BoundRequest, bind_request
from connector.correlation import CorrelationError, evaluate_response, response_context
from connector.elements import ElementConfig
from connector.feel.convert import to_json_compatible as to_json
from connector.http import HttpClient, HttpResponse, HttpStatusError, HttpTransportError
from connector.http.auth import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth
from connector.secrets import EnvSecretProvider, SecretProvider

MASK = "***"
BODY_CHARS = 2000
# FEEL warnings that mean "a name or path was not there" (feel-scala's wording).
_MISSING = ("No context entry found", "No variable found", "no variable found", "out of range")


class ExplainError(Exception):
    """A usage problem (file, element, variables); printed as one line, exit code 2."""


class RecordingSecrets:
    """Resolves secrets like the worker and remembers every value it handed out, so that
    each can be masked wherever it shows up (URL, headers, body, an echoing endpoint)."""

    def __init__(self, inner: SecretProvider) -> None:
        self._inner = inner
        self.values: set[str] = set()

    def get(self, name: str) -> str | None:
        value = self._inner.get(name)
        if value:
            self.values.add(value)
        return value


def mask(text: str, secrets: set[str]) -> str:
    """``text`` with every secret value, plain or URL-encoded, replaced by ``***``."""
    forms = {
        form for value in secrets for form in (value, quote(value, safe=""), quote_plus(value))
    }
    for value in sorted(forms, key=len, reverse=True):
        if len(value) >= 3:  # masking "a" would shred the output and hide nothing
            text = text.replace(value, MASK)
    return text


def display_url(url: str, secrets: set[str]) -> str:
    """The URL with its query (useful to see) but without user info; secrets masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    return mask(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), secrets)


# ---------------------------------------------------------------------------- inputs


def parse_variables(text: str | None) -> dict[str, Any]:
    """``--variables``: a JSON object, or ``@file.json``."""
    if not text:
        return {}
    source = "--variables"
    if text.startswith("@"):
        source = text[1:]
        try:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise ExplainError(f"{source}: cannot read: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ExplainError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ExplainError(f"{source}: must be a JSON object of variable names to values")
    return value


def select_element(path: str, element_id: str | None) -> ElementConfig:
    """The polling element ``element_id`` of the BPMN file (the only one if not given)."""
    try:
        with open(path, "rb") as handle:
            xml = handle.read()
    except OSError as exc:
        raise ExplainError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return element_of(xml, path, element_id)


def cluster_xml(process_id: str, rest_address: str | None) -> tuple[bytes, str]:
    """(BPMN XML, a name for messages) of the latest deployed version of ``process_id``,
    read through the cluster REST API configured as for ``run`` (or ``rest_address``)."""
    from connector.config import ConfigError, load_settings
    from connector.discovery import ClusterError, build_source
    from connector.zeebe_client import cluster_auth

    try:
        settings = load_settings({"rest_address": rest_address})
    except ConfigError as exc:
        raise ExplainError("; ".join(exc.problems)) from None
    source, client = build_source(settings, cluster_auth(settings))
    try:
        refs = [r for r in source.definitions() if r.process_id == process_id]
        if not refs:
            raise ExplainError(f"no deployed process '{process_id}' at {settings.rest_base}")
        ref = max(refs, key=lambda r: (r.version or 0, r.key))
        xml = source.xml(ref.key)
    except ClusterError as exc:
        raise ExplainError(f"cluster REST API at {settings.rest_base}: {exc}") from None
    finally:
        client.close()
    if xml is None:
        raise ExplainError(f"process '{process_id}': the cluster returned no BPMN XML")
    return xml.encode(), f"process '{process_id}' version {ref.version}"


def element_of(xml: bytes, source: str, element_id: str | None) -> ElementConfig:
    """The polling element ``element_id`` of ``xml`` (the only one if not given)."""
    from connector.bpmn import BpmnError
    from connector.elements import load_elements

    path = source
    try:
        configs, errors = load_elements(xml, source=path)
    except BpmnError as exc:
        raise ExplainError(f"{path}: not a readable BPMN file: {exc}") from None
    ids = sorted({c.element_id for c in configs} | {e.element_id for e in errors})
    if element_id is None:
        if len(ids) != 1:
            found = ", ".join(ids) or "none"
            raise ExplainError(f"{path}: name the polling element; found: {found}")
        element_id = ids[0]
    problems = [e for e in errors if e.element_id == element_id]
    if problems:
        raise ExplainError(
            "; ".join(f"{path}:{e.element_id}:{e.property}: {e.reason}" for e in problems)
        )
    for config in configs:
        if config.element_id == element_id:
            return config
    raise ExplainError(
        f"{path}: no polling element '{element_id}'; found: {', '.join(ids) or 'none'}"
    )


# ---------------------------------------------------------------------------- explanation


def describe_request(request: BoundRequest, secrets: set[str]) -> dict[str, Any]:
    """The request as it goes on the wire, credentials masked."""
    headers = {name: mask(value, secrets) for name, value in request.headers}
    auth = request.auth
    if isinstance(auth, BasicAuth):
        headers["Authorization"] = f"Basic {MASK} (user {mask(auth.username, secrets)})"
    elif isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {MASK}"
    elif isinstance(auth, ApiKeyAuth) and auth.location == "headers":
        headers[auth.name] = MASK
    elif not isinstance(auth, NoAuth):
        headers["Authorization"] = f"Bearer {MASK} (OAuth token)"
    query = [(k, mask(v, secrets)) for k, v in request.query]
    if isinstance(auth, ApiKeyAuth) and auth.location == "query":
        query.append((auth.name, MASK))
    body = None
    if request.body is not None:
        body = mask(request.body.decode("utf-8", "replace"), secrets)
    return {
        "method": request.method,
        "url": display_url(request.url, secrets),
        "query": query,
        "headers": headers,
        "body": body,
        "auth": type(auth).__name__,
    }


def _excerpt(body: Any, secrets: set[str]) -> Any:
    text = body if isinstance(body, str) else json.dumps(to_json(body), default=str)
    text = mask(text, secrets)
    if len(text) > BODY_CHARS:
        return text[:BODY_CHARS] + f"... ({len(text)} characters)"
    return json.loads(text) if not isinstance(body, str) and text.startswith(("{", "[")) else text


def describe_response(response: HttpResponse, secrets: set[str]) -> dict[str, Any]:
    headers = {k: mask(str(v), secrets) for k, v in response.headers.items()}
    return {
        "status": response.status,
        "reason": response.reason,
        "headers": headers,
        "body": _excerpt(response.body, secrets),
    }


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return "a number"
    if isinstance(value, Mapping):
        return "a context"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def why_not(value: Any, warnings: Sequence[str]) -> str | None:
    """Why a condition value does not activate (None when it is ``true``)."""
    if value is True:
        return None
    said = "; ".join(warnings)
    if value is None:
        if any(marker in w for w in warnings for marker in _MISSING):
            return f"null because a path was missing: {said}"
        if warnings:
            return f"null because of a FEEL warning: {said}"
        return "null (the expression gave no value)"
    if value is False:
        return "false" + (f" (FEEL warnings: {said})" if warnings else "")
    return f"gave {_kind(value)}, not a boolean; treated as not met" + (
        f" (FEEL warnings: {said})" if warnings else ""
    )


def explain_response(
    config: ElementConfig,
    response: HttpResponse,
    variables: Mapping[str, Any],
    *,
    element_instance_key: int,
) -> dict[str, Any]:
    """The activation condition and what would be published, for one response."""
    context = response_context(response, variables)
    out: dict[str, Any] = {}
    if config.activation_condition is None:
        out["condition"] = {"expression": None, "value": True, "met": True, "why": None}
    else:
        value, warnings = config.activation_condition.evaluate_with_warnings(context)
        out["condition"] = {
            "expression": config.activation_condition.text,
            "value": to_json(value),
            "met": value is True,
            "why": why_not(value, warnings),
            "warnings": warnings,
        }
    # What would be published: evaluated even when the condition is not met, so both can be
    # fixed in one go. The worker's own code, with the condition taken out.
    unconditional = config.model_copy(update={"activation_condition": None})
    try:
        activation = evaluate_response(
            unconditional, response, variables, element_instance_key=element_instance_key
        )
    except CorrelationError as exc:
        out["error"] = str(exc)
        return out
    assert activation is not None
    out["message"] = {
        "name": activation.message_name,
        "correlationKey": activation.correlation_key,
        "messageId": activation.message_id,
        "ttlSeconds": activation.ttl.total_seconds(),
        "variables": activation.variables,
        "messageIdDefault": config.message_id_expression is None,
    }
    out["activation"] = activation
    return out


def explain_once(
    config: ElementConfig,
    variables: Mapping[str, Any],
    secrets: SecretProvider,
    http: HttpClient,
    *,
    element_instance_key: int = 1,
) -> dict[str, Any]:
    """Bind, send once and evaluate; a JSON-ready dict (plus ``activation`` when met)."""
    recording = RecordingSecrets(secrets)
    out: dict[str, Any] = {
        "element": {
            "processId": config.process_id,
            "elementId": config.element_id,
            "elementName": config.element_name,
            "kind": config.kind,
            "messageName": config.message_name,
        },
        "elementInstanceKey": element_instance_key,
    }
    try:
        request = bind_request(config, variables, recording)
    except BindingError as exc:
        out["error"] = mask(str(exc), recording.values)
        return out
    out["request"] = describe_request(request, recording.values)
    try:
        response = http.execute(request)
    except HttpStatusError as exc:
        out["response"] = {"status": exc.status, "reason": exc.reason}
        out["error"] = mask(
            f"{exc}; responses with status 400 or more are never evaluated, the poll is "
            "retried with backoff",
            recording.values,
        )
        return out
    except HttpTransportError as exc:
        out["error"] = mask(str(exc), recording.values)
        return out
    out["response"] = describe_response(response, recording.values)
    result = explain_response(
        config, response, variables, element_instance_key=element_instance_key
    )
    if "error" in result:
        result["error"] = mask(result["error"], recording.values)
    out.update(result)
    return out


# ---------------------------------------------------------------------------- output


def _json_line(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def render_text(result: Mapping[str, Any]) -> str:
    """The explanation for people."""
    element = result["element"]
    lines = [
        f"element    process '{element['processId']}' element '{element['elementId']}'"
        f" ({element['kind']}), message '{element['messageName']}'"
    ]
    request = result.get("request")
    if request:
        query = "&".join(f"{k}={v}" for k, v in request["query"])
        lines.append(
            f"request    {request['method']} {request['url']}{'?' + query if query else ''}"
        )
        lines += [f"           {k}: {v}" for k, v in request["headers"].items()]
        if request["body"] is not None:
            lines.append(f"           body: {request['body']}")
    response = result.get("response")
    if response:
        lines.append(f"response   {response['status']} {response.get('reason') or ''}".rstrip())
        lines += [f"           {k}: {v}" for k, v in response.get("headers", {}).items()]
        if "body" in response:
            lines.append(f"           body: {_json_line(response['body'])}")
    condition = result.get("condition")
    if condition:
        shown = condition["expression"] or "(none: every response activates)"
        lines.append(f"condition  {shown}")
        met = "met" if condition["met"] else "NOT met"
        lines.append(f"           value: {_json_line(condition['value'])} -> {met}")
        if condition.get("why"):
            lines.append(f"           why: {condition['why']}")
    message = result.get("message")
    if message:
        lines.append(f"correlation key  {message['correlationKey']}")
        lines.append(
            f"message id       {message['messageId']}"
            + (
                " (default: element id + element instance key)"
                if message["messageIdDefault"]
                else ""
            )
        )
        lines.append(f"TTL              {message['ttlSeconds']:g} s")
        lines.append(f"variables        {_json_line(message['variables'])}")
    if result.get("error"):
        lines.append(f"error      {result['error']}")
    if "published" in result:
        lines.append(f"published  {result['published']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE.bpmn", nargs="?", help="the diagram (or use --process-id)"
    )
    parser.add_argument("element", nargs="?", help="polling element id (optional if only one)")
    parser.add_argument(
        "--process-id",
        help="read the latest deployed version of this process from the cluster instead of a "
        "file (REST address and credentials as for run); then ELEMENT is the only argument",
    )
    parser.add_argument("--rest-address", help="cluster REST API for --process-id")
    parser.add_argument("--variables", help="instance variables: a JSON object or @file.json")
    parser.add_argument(
        "--element-instance-key",
        type=int,
        default=1,
        help="element instance key for the default message id (default 1)",
    )
    parser.add_argument("--watch", action="store_true", help="poll every interval until Ctrl-C")
    parser.add_argument("--json", action="store_true", help="one JSON document per poll")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="publish the message when the condition holds, to the cluster configured by the "
        "usual environment variables or --grpc-address",
    )
    parser.add_argument("--grpc-address", help="cluster gRPC address for --publish")
    parser.add_argument("--secret-prefix", default=None, help="default SECRET_ (as the worker)")


def _publish(result: dict[str, Any], grpc_address: str | None) -> str:
    from connector.config import OPTIONS_BY_FIELD, ConfigError, load_settings
    from connector.publish import PublishError, publish_message
    from connector.zeebe_client import build_zeebe_client

    configured = grpc_address or any(
        os.environ.get(name) for name in OPTIONS_BY_FIELD["grpc_address"].env
    )
    if not configured:
        raise ExplainError(
            "--publish needs a cluster: --grpc-address or CAMUNDA_CLIENT_GRPCADDRESS"
        )
    try:
        settings = load_settings({"grpc_address": grpc_address})
    except ConfigError as exc:
        raise ExplainError("; ".join(exc.problems)) from None

    async def send() -> str:
        client, channel = build_zeebe_client(settings)
        try:
            outcome = await publish_message(client, result["activation"], deadline_seconds=15)
        finally:
            await channel.close()
        return str(outcome.name.lower())

    try:
        return asyncio.run(send())
    except PublishError as exc:
        return f"failed: {exc}"


def run(
    namespace: argparse.Namespace,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The ``explain`` command; 0 explained, 1 the element failed (binding, HTTP, FEEL),
    2 a usage problem."""
    out = out or sys.stdout
    try:
        if namespace.process_id:
            if namespace.file and namespace.element:
                raise ExplainError("with --process-id give only the element id, not a file")
            xml, name = cluster_xml(namespace.process_id, namespace.rest_address)
            config = element_of(xml, name, namespace.element or namespace.file)
        elif namespace.file:
            config = select_element(namespace.file, namespace.element)
        else:
            raise ExplainError("give a BPMN file or --process-id")
        variables = parse_variables(namespace.variables)
    except ExplainError as exc:
        print(f"http-polling-connector explain: {exc}", file=sys.stderr)
        return 2
    prefix = namespace.secret_prefix or os.environ.get("CONNECTOR_SECRET_PREFIX") or "SECRET_"
    secrets = EnvSecretProvider(prefix=prefix)
    http = HttpClient(pool_size=1)
    code = 0
    try:
        while True:
            result = explain_once(
                config,
                variables,
                secrets,
                http,
                element_instance_key=namespace.element_instance_key,
            )
            if namespace.publish and "activation" in result and result["condition"]["met"]:
                try:
                    result["published"] = _publish(result, namespace.grpc_address)
                except ExplainError as exc:
                    print(f"http-polling-connector explain: {exc}", file=sys.stderr)
                    return 2
            elif namespace.publish:
                result["published"] = "no (the activation condition is not met)"
            result.pop("activation", None)
            code = 1 if "error" in result else 0
            print(_json_line(result) if namespace.json else render_text(result), file=out)
            out.flush()
            if not namespace.watch:
                return code
            if not namespace.json:
                print("-" * 20, file=out)
            sleep(max(1.0, config.interval.total_seconds()))
    except KeyboardInterrupt:
        return code
    finally:
        http.close()
