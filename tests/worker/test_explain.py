"""``http-polling-connector explain`` against a local endpoint (real HTTP, real CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.cli import main
from connector.devengine.server import DevEngine
from tests.worker.bpmn_builder import catch_process, polling_properties
from tests.worker.harness import Endpoint, until

SECRET = "s3cr3t-api-key"


def _bpmn(tmp_path: Path, condition: str, result: str | None = "={result: body.status}") -> str:
    url = '=base + "/orders/" + id + "?key={{secrets.API_KEY}}"'
    props = polling_properties(url, condition=condition, result=result)
    path = tmp_path / "orders.bpmn"
    path.write_text(catch_process("orders", props))
    return str(path)


def _explain(
    capsys: pytest.CaptureFixture[str], endpoint: Endpoint, bpmn: str, *extra: str
) -> tuple[int, str]:
    variables = json.dumps({"base": endpoint.url, "id": "A-1"})
    code = main(["explain", bpmn, "--variables", variables, *extra])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_API_KEY", SECRET)


def test_condition_that_holds(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "done", "echo": SECRET})
    bpmn = _bpmn(tmp_path, '=body.status = "done"')
    code, out = _explain(capsys, endpoint, bpmn)
    assert code == 0
    assert f"GET {endpoint.url}/orders/A-1?key=***" in out
    assert "response   200 OK" in out
    assert '"echo": "***"' in out  # an endpoint echoing the secret does not print it
    assert "value: true -> met" in out
    assert "correlation key  A-1" in out
    assert "message id       Wait1 (default: element id + element instance key)" in out
    assert "TTL              3600 s" in out
    assert 'variables        {"result": "done"}' in out
    assert len(endpoint.hits_for(f"/orders/A-1?key={SECRET}")) == 1  # sent once
    # The same as JSON, for scripts.
    code, out = _explain(capsys, endpoint, bpmn, "--json", "--element-instance-key", "42")
    result: dict[str, Any] = json.loads(out)
    assert code == 0 and result["condition"]["met"] is True
    assert result["message"]["messageId"] == "Wait42"
    assert result["message"]["variables"] == {"result": "done"}
    assert result["request"]["query"] == [] and result["request"]["url"].endswith("key=***")


def test_condition_null_because_of_a_missing_path(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "waiting"})
    code, out = _explain(capsys, endpoint, _bpmn(tmp_path, "=body.shipment.delivered"))
    assert code == 0
    assert "value: null -> NOT met" in out
    assert "why: null because a path was missing: No context entry found with key 'shipment'" in out
    # What would be published is shown all the same, to fix everything in one go.
    assert "correlation key  A-1" in out and 'variables        {"result": "waiting"}' in out


def test_condition_with_a_feel_error(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "waiting", "items": 3})
    bpmn = _bpmn(tmp_path, '=body.items + "1" > 2')
    code, out = _explain(capsys, endpoint, bpmn, "--json")
    result = json.loads(out)
    assert code == 0 and result["condition"]["met"] is False
    assert result["condition"]["value"] is None
    assert result["condition"]["why"].startswith("null because of a FEEL warning: ")
    assert "Can't apply '+' to a number and a string" in result["condition"]["why"]


def test_errors_name_the_element_and_property(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.set(f"/orders/A-1?key={SECRET}", {"status": "done"})  # no id: no correlation key
    code, out = _explain(capsys, endpoint, _bpmn(tmp_path, '=body.status = "done"'))
    assert code == 1
    assert "process 'orders' element 'Wait'" in out and "correlationKeyExpression" in out
    endpoint.set(f"/orders/A-1?key={SECRET}", {"error": SECRET}, status=503)
    code, out = _explain(capsys, endpoint, _bpmn(tmp_path, '=body.status = "done"'))
    assert code == 1 and "HTTP 503" in out and "never evaluated" in out
    # Usage problems: an unknown element, bad variables.
    bpmn = _bpmn(tmp_path, "=true")
    assert main(["explain", bpmn, "Nope"]) == 2
    assert "no polling element 'Nope'; found: Wait" in capsys.readouterr().err
    assert main(["explain", bpmn, "--variables", "[1]"]) == 2
    assert "must be a JSON object" in capsys.readouterr().err


def test_publish_needs_a_configured_cluster(
    tmp_path: Path,
    endpoint: Endpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CAMUNDA_CLIENT_GRPCADDRESS", "CAMUNDA_CLIENT_GRPC_ADDRESS", "ZEEBE_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ZEEBE_GRPC_ADDRESS", raising=False)
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "done"})
    variables = json.dumps({"base": endpoint.url, "id": "A-1"})
    code = main(["explain", _bpmn(tmp_path, "=true"), "--variables", variables, "--publish"])
    assert code == 2 and "--publish needs a cluster" in capsys.readouterr().err


def test_watch_polls_every_interval_until_interrupted(
    tmp_path: Path, endpoint: Endpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import io

    from connector.explain import add_arguments, run

    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "waiting"})
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    variables = json.dumps({"base": endpoint.url, "id": "A-1"})
    namespace = parser.parse_args(
        [_bpmn(tmp_path, '=body.status = "done"'), "--variables", variables, "--watch", "--json"]
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert run(namespace, out=out, sleep=sleep) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 3 and all(r["condition"]["met"] is False for r in lines)
    assert waits == [1.0, 1.0, 1.0]  # PT0.5S, but never faster than once a second


def test_process_id_reads_the_deployed_diagram_from_the_cluster(
    dev: DevEngine,
    endpoint: Endpoint,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CAMUNDA_CLIENT_RESTADDRESS", "CAMUNDA_CLIENT_REST_ADDRESS", "ZEEBE_REST_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    url = '=base + "/orders/" + id + "?key={{secrets.API_KEY}}"'
    old = polling_properties(url, condition='=body.status = "old"')
    new = polling_properties(url, condition='=body.status = "done"')
    dev.engine.deploy([("o.bpmn", catch_process("orders", old).encode())])
    dev.engine.deploy([("o.bpmn", catch_process("orders", new).encode())])  # version 2
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "done"})
    variables = json.dumps({"base": endpoint.url, "id": "A-1"})
    args = ["explain", "--process-id", "orders", "--rest-address", dev.rest_url]
    code = main([*args, "Wait", "--variables", variables, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["condition"]["met"] is True  # the latest version's condition
    assert main([*args[:2], "nope", "--rest-address", dev.rest_url]) == 2
    assert "no deployed process 'nope'" in capsys.readouterr().err


def test_publish_sends_the_message_and_the_instance_moves_on(
    dev: DevEngine,
    tmp_path: Path,
    endpoint: Endpoint,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bpmn = _bpmn(tmp_path, '=body.status = "done"')
    dev.engine.deploy([("orders.bpmn", Path(bpmn).read_bytes())])
    variables = {"base": endpoint.url, "id": "A-1"}
    instance = dev.engine.create_process_instance("orders", variables=variables)
    key = int(instance.process_instance_key)
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "waiting"})
    args = ["explain", bpmn, "--variables", json.dumps(variables), "--json", "--publish"]
    args += ["--grpc-address", dev.grpc_address]
    # Not met: nothing is published, and the instance keeps waiting.
    assert main(args) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["published"] == "no (the activation condition is not met)"
    assert dev.engine.process_instances(key=key)[0].state == "ACTIVE"
    # Met: the message goes to the cluster and correlates; the instance completes.
    endpoint.set(f"/orders/A-1?key={SECRET}", {"id": "A-1", "status": "done"})
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["published"] == "published", err
    assert SECRET not in out + err
    until(lambda: dev.engine.process_instances(key=key)[0].state == "COMPLETED", what="completed")
