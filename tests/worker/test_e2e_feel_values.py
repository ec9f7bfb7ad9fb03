"""End to end: every FEEL value type through every exit of the worker, on the dev engine.

One polling element computes a context holding one value of each FEEL type (see
``tests/feel/value_renderings.py``) and sends it as the query parameters, the headers and
the JSON body of its request, then publishes it as a process variable through its result
expression. Each exit must carry the rendering documented in ``connector.feel.convert``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connector.devengine.server import DevEngine
from connector.jsonendpoint import JsonHandler, serve
from tests.feel.value_renderings import context_expression, expected_json, expected_texts
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.harness import WorkerProcess, until

HEADER_PREFIX = "X-V-"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []

    def last(self) -> tuple[str, str, dict[str, str], bytes] | None:
        with self.lock:
            return self.requests[-1] if self.requests else None


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    rec = Recorder()

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with rec.lock:
                rec.requests.append(("POST", self.path, dict(self.headers.items()), body))
            self.send_json(200, {"id": "v", "status": "done"})

    with serve(Handler) as url:
        yield rec, url


def test_every_value_type_through_every_exit(
    dev: DevEngine, recorder: tuple[Recorder, str]
) -> None:
    rec, url = recorder
    values = context_expression()
    headers = (
        "={"
        + ", ".join(
            f'"{HEADER_PREFIX}{name}": v.`{name}`' for name in expected_json() if name != "text"
        )
        + "}"
    )
    props = polling_properties(
        url + "/values",
        condition="=true",
        correlation="=body.id",
        result="={published: " + values + "}",
    )
    props["method"] = "POST"
    props["queryParameters"] = "=" + values
    props["headers"] = headers.replace("v.", "(" + values + ").")
    props["body"] = "=" + values
    dev.engine.deploy([("v.bpmn", catch_process("values", props).encode())])
    key = dev.engine.create_process_instance("values", variables={"id": "v"}).process_instance_key
    worker = WorkerProcess(dev.grpc_address, dev.rest_url)
    try:
        try:
            until(lambda: dev.engine.process_instances(key=key)[0].state == "COMPLETED", 30)
        except AssertionError:
            problems = [r for r in worker.logs() if r.get("level") == "WARNING"]
            raise AssertionError(f"not correlated; worker warnings: {problems}") from None
    finally:
        assert worker.stop() == 0

    request = rec.last()
    assert request is not None
    _, path, sent_headers, body = request
    expected = expected_json()
    texts = expected_texts()

    # body: the JSON rendering of every member
    assert json.loads(body) == expected

    # query: the text rendering; lists repeat the parameter, null-rendered values are left out
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    want_query = {
        name: [str(x) if not isinstance(x, str) else x for x in rendered if x is not None]
        if isinstance(rendered, list)
        else [texts[name]]
        for name, rendered in expected.items()
        if name in texts
    }
    assert query == want_query

    # headers: the text rendering, lists joined with ", "
    lowered = {k.lower(): v for k, v in sent_headers.items()}
    got_headers = {
        name[len(HEADER_PREFIX) :]: value
        for name, value in lowered.items()
        if name.startswith(HEADER_PREFIX.lower())
    }
    want_headers = {name.lower(): text for name, text in texts.items() if name != "text"}
    assert got_headers == want_headers

    # published variable, as the dev engine stores it
    stored = {v.name: json.loads(v.value) for v in dev.engine.variables(process_instance_key=key)}
    published: Any = stored["published"]
    assert published == expected
