"""``http-polling-connector demo``: the whole product in one command, no cluster needed.

Starts the embedded development engine, a small local "shop" HTTP endpoint whose orders
ship one after another, deploys ``connector/examples/order-status.bpmn`` (a catch event
using our template: it polls ``statusUrl`` until ``body.status = "SHIPPED"``), starts one
instance per order, runs the worker against it and narrates until every instance has
completed. Exit code 0 on success, 1 when the instances did not complete in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from connector.config import Settings
from connector.jsonendpoint import JsonHandler, serve
from connector.observability import setup_logging

EXAMPLE = Path(__file__).parent / "examples" / "order-status.bpmn"
PROCESS_ID = "order-status"
# Seconds after the start at which each order ships.
ORDERS = {"A-1001": 2.0, "A-1002": 5.0, "A-1003": 8.0}


class Shop:
    """The polled endpoint's state: an order is PENDING until its ship time."""

    def __init__(self, ship_after: dict[str, float]) -> None:
        self.started = time.monotonic()
        self.ship_after = ship_after
        self.requests = 0
        self._lock = threading.Lock()

    def status(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            self.requests += 1
        if order_id not in self.ship_after:
            return None
        shipped = time.monotonic() - self.started >= self.ship_after[order_id]
        body: dict[str, Any] = {"orderId": order_id, "status": "SHIPPED" if shipped else "PENDING"}
        if shipped:
            body["trackingNumber"] = "TRK-" + order_id.split("-")[-1]
        return body


def _handler(shop: Shop) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            order_id = self.path.rstrip("/").rsplit("/", 1)[-1]
            body = shop.status(order_id)
            if body is None:
                self.send_json(404, {"error": "no such order"})
            else:
                self.send_json(200, body)

    return Handler


def shop_server(shop: Shop) -> contextlib.AbstractContextManager[str]:
    """Serve ``shop`` on a free port of 127.0.0.1; yields the base URL."""
    return serve(_handler(shop), name="demo-shop")


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


async def _demo(timeout: float) -> int:
    from connector.devengine.server import DevEngine
    from connector.worker import Worker

    xml = EXAMPLE.read_bytes()
    shop = Shop(ORDERS)
    with shop_server(shop) as shop_url:
        say(
            f"shop endpoint on {shop_url}/orders/<id>; orders ship at "
            + ", ".join(f"{order} +{after:g}s" for order, after in ORDERS.items())
        )
        async with DevEngine.start("127.0.0.1") as dev:
            say(f"development engine: gRPC {dev.grpc_address}, REST {dev.rest_url}")
            deployed = dev.engine.deploy([(EXAMPLE.name, xml)])
            say(
                f"deployed {EXAMPLE.name}: "
                + ", ".join(f"{p.bpmn_process_id} v{p.version}" for p in deployed.processes)
            )
            keys: dict[int, str] = {}
            for order in ORDERS:
                info = dev.engine.create_process_instance(
                    PROCESS_ID,
                    variables={"orderId": order, "statusUrl": f"{shop_url}/orders/{order}"},
                )
                keys[info.process_instance_key] = order
                say(f"started instance {info.process_instance_key} for order {order}")
            settings = Settings(
                grpc_address=dev.grpc_address,
                rest_address=dev.rest_url,
                discovery_interval=0.5,
                shutdown_grace=2.0,
            )
            stop = asyncio.Event()
            worker = Worker(settings)
            worker_task = asyncio.ensure_future(worker.run(stop))
            done: set[int] = set()
            deadline = time.monotonic() + timeout
            while len(done) < len(keys) and time.monotonic() < deadline:
                for key, order in keys.items():
                    if key in done:
                        continue
                    records = dev.engine.process_instances(key=key)
                    if records and records[0].state == "COMPLETED":
                        done.add(key)
                        variables = {
                            v.name: json.loads(v.value)
                            for v in dev.engine.variables(process_instance_key=key)
                        }
                        say(
                            f"instance {key} (order {order}) completed: "
                            f"orderStatus={variables.get('orderStatus')} "
                            f"trackingNumber={variables.get('trackingNumber')}"
                        )
                if worker_task.done():
                    break
                await asyncio.sleep(0.2)
            stop.set()
            await worker_task
    if len(done) == len(keys):
        say(f"all {len(keys)} instances completed; the shop answered {shop.requests} polls")
        return 0
    say(f"only {len(done)} of {len(keys)} instances completed within {timeout:g}s")
    return 1


def run_demo(*, log_format: str = "plain", timeout: float = 50.0) -> int:
    setup_logging(log_format, "INFO", stream=sys.stdout)
    logging.getLogger("connector.devengine").setLevel(logging.WARNING)
    try:
        return asyncio.run(_demo(timeout))
    except KeyboardInterrupt:
        return 1
