"""The status page (``GET /`` on the status port): the ``/inbound`` document as HTML.

Server-rendered, self-contained (inline CSS, no scripts, no external assets, so it works
offline and behind strict proxies) and refreshed by the browser every few seconds. Every
value is escaped: process ids, element names and errors come from deployed BPMN files and
polled endpoints, which are not trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from connector.observability import element_health

REFRESH_SECONDS = 5

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:0}
.meta{color:#555;margin-bottom:1em}
.el{background:#fff;border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;
padding:.7em 1em;margin:0 0 1em}
.el.OK{border-left-color:#2e7d32}.el.DEGRADED{border-left-color:#ef6c00}
.el.INVALID{border-left-color:#c62828}
.badge{display:inline-block;padding:0 .5em;border-radius:3px;color:#fff;font-weight:600}
.badge.OK{background:#2e7d32}.badge.DEGRADED{background:#ef6c00}
.badge.INVALID{background:#c62828}
.reason{color:#8a1c1c;margin:.3em 0}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.15em .8em .15em 0;text-align:left;
vertical-align:top}th{color:#555;font-weight:500}
.act{font-family:ui-monospace,monospace;font-size:12px}
.act td:first-child{white-space:nowrap}.ERROR{color:#b71c1c}.WARNING{color:#e65100}
"""


def _text(value: Any) -> str:
    return "–" if value is None or value == "" else escape(str(value))


def _row(label: str, value: Any) -> str:
    return f"<tr><th>{escape(label)}</th><td>{_text(value)}</td></tr>"


def _last(pollers: Sequence[Mapping[str, Any]], key: str) -> Any:
    """The value of ``key`` of the most recently polled instance."""
    polled = [p for p in pollers if p.get("lastPoll")]
    if not polled:
        return None
    return max(polled, key=lambda p: str(p["lastPoll"])).get(key)


def _activity(events: Sequence[Mapping[str, Any]]) -> str:
    if not events:
        return "<p class='act'>no activity yet</p>"
    rows = []
    for event in events:
        count = int(event.get("count") or 1)
        times = f" ×{count}" if count > 1 else ""
        instance = event.get("elementInstanceKey")
        where = f" [instance {escape(str(instance))}]" if instance else ""
        severity = escape(str(event.get("severity", "INFO")))
        rows.append(
            f"<tr class='{severity}'><td>{_text(event.get('timestamp'))}</td>"
            f"<td>{severity}</td><td>{_text(event.get('tag'))}</td>"
            f"<td>{_text(event.get('message'))}{times}{where}</td></tr>"
        )
    return "<table class='act'>" + "".join(rows) + "</table>"


def _element(element: Mapping[str, Any]) -> str:
    health, reason = element_health(element)
    pollers: Sequence[Mapping[str, Any]] = element.get("pollers") or ()
    counts: Mapping[str, int] = element.get("counts") or {}
    last_error = next((p.get("lastError") for p in pollers if p.get("lastError")), None)
    keys = sorted({str(p["correlationKey"]) for p in pollers if p.get("correlationKey")})
    title = (
        f"{_text(element.get('processDefinitionId'))} v{_text(element.get('version'))}"
        f" · {_text(element.get('elementId'))}"
    )
    if element.get("elementName"):
        title += f" ({_text(element.get('elementName'))})"
    parts = [
        f"<section class='el {health}' data-element='{_text(element.get('elementId'))}'>",
        f"<h2>{title} <span class='badge {health}'>{health}</span></h2>",
    ]
    if reason:
        parts.append(f"<p class='reason'>{escape(reason)}</p>")
    parts.append("<table>")
    parts.append(_row("message", element.get("messageName")))
    parts.append(_row("waiting instances", len(pollers)))
    parts.append(
        _row("polls", element.get("polls", sum(int(p.get("polls") or 0) for p in pollers)))
    )
    parts.append(_row("last status", _last(pollers, "lastStatus")))
    parts.append(_row("last error", last_error))
    parts.append(_row("correlations", counts.get("published", 0)))
    if keys:
        parts.append(_row("correlation keys", ", ".join(keys[:10])))
    parts.append("</table>")
    parts.append("<h3>recent activity</h3>")
    parts.append(_activity(element.get("logs") or ()))
    parts.append("</section>")
    return "".join(parts)


def render_page(doc: Mapping[str, Any]) -> str:
    """The whole HTML page for one ``/inbound`` document."""
    cluster: Mapping[str, Any] = doc.get("cluster") or {}
    shard: Mapping[str, Any] = doc.get("shard") or {}
    elements: Sequence[Mapping[str, Any]] = doc.get("elements") or ()
    healths = [element_health(e)[0] for e in elements]
    summary = ", ".join(f"{healths.count(h)} {h}" for h in ("OK", "DEGRADED", "INVALID"))
    meta = (
        f"cluster REST {_text(cluster.get('rest'))} · gRPC {_text(cluster.get('grpc'))}"
        f" · last discovery {_text(cluster.get('lastDiscovery'))}"
        f" · shard {_text(shard.get('index'))}/{_text(shard.get('count'))}"
        f" · {_text(doc.get('pollers'))} waiting instance(s) · elements: {summary}"
    )
    if cluster.get("lastDiscoveryError"):
        meta += f"<br>discovery error: {_text(cluster.get('lastDiscoveryError'))}"
    body = "".join(_element(e) for e in elements) or "<p>no polling elements deployed</p>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>HTTP polling connector</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>HTTP polling connector</h1>"
        f"<p class='meta'>{meta}</p>{body}</body></html>"
    )
