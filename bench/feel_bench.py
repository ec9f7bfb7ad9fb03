"""Benchmark of typical connector FEEL expressions against hand-written Python.

Run with ``python bench/feel_bench.py``. For each expression it reports evaluations per second
(compiled once, best of several timeit repeats), the same logic as a plain Python function on the
same decoded JSON input, the ratio between the two, and the parse/compile time with the compile
cache bypassed. Targets: FEEL at most 5x slower than Python, parsing under 100 µs. The script
always exits 0: the numbers are for the issue note, not a gate.
"""

from __future__ import annotations

import json
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector import feel

RATIO_TARGET = 5.0
PARSE_TARGET_US = 100.0
REPEATS = 7

# A decoded GitHub "get an issue" response, trimmed of nothing that matters for speed: the
# engine must not pay for the parts of the body an expression does not read.
ISSUE_JSON = """
{
  "id": 1,
  "node_id": "MDU6SXNzdWUx",
  "url": "https://api.github.com/repos/octocat/Hello-World/issues/1347",
  "repository_url": "https://api.github.com/repos/octocat/Hello-World",
  "labels_url": "https://api.github.com/repos/octocat/Hello-World/issues/1347/labels{/name}",
  "comments_url": "https://api.github.com/repos/octocat/Hello-World/issues/1347/comments",
  "events_url": "https://api.github.com/repos/octocat/Hello-World/issues/1347/events",
  "html_url": "https://github.com/octocat/Hello-World/issues/1347",
  "number": 1347,
  "state": "open",
  "status": "OK",
  "title": "Found a bug",
  "body": "I'm having a problem with this.",
  "user": {
    "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=",
    "avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": "",
    "url": "https://api.github.com/users/octocat", "html_url": "https://github.com/octocat",
    "type": "User", "site_admin": false
  },
  "labels": [
    {"id": 208045946, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
     "url": "https://api.github.com/repos/octocat/Hello-World/labels/bug",
     "name": "bug", "description": "Something isn't working", "color": "f29513",
     "default": true},
    {"id": 208045947, "node_id": "MDU6TGFiZWwyMDgwNDU5NDc=",
     "url": "https://api.github.com/repos/octocat/Hello-World/labels/needs%20review",
     "name": "needs review", "description": "Waiting for a reviewer", "color": "a2eeef",
     "default": false},
    {"id": 208045948, "node_id": "MDU6TGFiZWwyMDgwNDU5NDg=",
     "url": "https://api.github.com/repos/octocat/Hello-World/labels/backend",
     "name": "backend", "description": "Server side", "color": "0e8a16", "default": false}
  ],
  "assignee": null,
  "assignees": [],
  "milestone": {
    "url": "https://api.github.com/repos/octocat/Hello-World/milestones/1",
    "id": 1002604, "number": 1, "state": "open", "title": "v1.0",
    "description": "Tracking milestone for version 1.0", "open_issues": 4, "closed_issues": 8,
    "created_at": "2011-04-10T20:09:31Z", "due_on": "2012-10-09T23:39:01Z"
  },
  "locked": true,
  "active_lock_reason": "too heated",
  "comments": 0,
  "pull_request": {
    "url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347",
    "html_url": "https://github.com/octocat/Hello-World/pull/1347",
    "diff_url": "https://github.com/octocat/Hello-World/pull/1347.diff",
    "patch_url": "https://github.com/octocat/Hello-World/pull/1347.patch"
  },
  "closed_at": null,
  "created_at": "2011-04-22T13:33:48Z",
  "updated_at": "2011-04-22T13:33:48Z",
  "author_association": "COLLABORATOR",
  "state_reason": null,
  "reactions": {"total_count": 3, "+1": 2, "-1": 0, "laugh": 1, "hooray": 0, "confused": 0,
                "heart": 0, "rocket": 0, "eyes": 0}
}
"""

ITEMS_JSON = """
[
  {"sku": "A-1", "name": "pen", "price": 2.5, "qty": 10},
  {"sku": "B-2", "name": "lamp", "price": 24.99, "qty": 1},
  {"sku": "C-3", "name": "desk", "price": 149, "qty": 1},
  {"sku": "D-4", "name": "paper", "price": 4.2, "qty": 5},
  {"sku": "E-5", "name": "chair", "price": 89.5, "qty": 2},
  {"sku": "F-6", "name": "stapler", "price": 7, "qty": 1}
]
"""


def build_context() -> dict[str, Any]:
    return {
        "body": json.loads(ISSUE_JSON),
        "orderId": 123456,
        "items": json.loads(ITEMS_JSON),
    }


# The plain Python the expressions stand for, written the way one would by hand for the same
# decoded JSON: key lookups with .get, no FEEL machinery.
def py_status(ctx: dict[str, Any]) -> Any:
    body = ctx.get("body")
    return body.get("status") == "OK" if isinstance(body, dict) else None


def py_context(ctx: dict[str, Any]) -> Any:
    body = ctx.get("body") or {}
    number = body.get("number")
    return {
        "issueUrl": body.get("html_url"),
        "needsReview": number > 100 if isinstance(number, int | float) else None,
    }


def py_labels(ctx: dict[str, Any]) -> Any:
    body = ctx.get("body") or {}
    return "needs review" in [label.get("name") for label in body.get("labels") or []]


def py_url(ctx: dict[str, Any]) -> Any:
    return "https://api.example.com/orders/" + str(ctx.get("orderId"))


def py_filter(ctx: dict[str, Any]) -> Any:
    items = ctx.get("items") or []
    return [
        item for item in items if isinstance(item.get("price"), int | float) and item["price"] > 10
    ]


@dataclass(frozen=True)
class Case:
    label: str
    expression: str
    python: Callable[[dict[str, Any]], Any]


CASES = [
    Case("comparison on a path", 'body.status = "OK"', py_status),
    Case(
        "context literal",
        "{issueUrl: body.html_url, needsReview: body.number > 100}",
        py_context,
    ),
    Case(
        "projection + list contains",
        'list contains((body.labels).name, "needs review")',
        py_labels,
    ),
    Case(
        "concatenation with string()",
        '"https://api.example.com/orders/" + string(orderId)',
        py_url,
    ),
    Case("filter", "items[price > 10]", py_filter),
]


def best_seconds_per_call(*fns: Callable[[], Any]) -> list[float]:
    """Best-of-REPEATS time of one call of each function.

    The loop count is picked like ``timeit`` does; the functions are timed in turns within each
    repeat so that load changes on a shared machine hit all of them alike.
    """
    timers = [timeit.Timer(fn) for fn in fns]
    numbers = [max(timer.autorange()[0], 1) for timer in timers]
    best = [float("inf")] * len(fns)
    for _ in range(REPEATS):
        for index, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[index] = min(best[index], timer.timeit(number) / number)
    return best


def uncached_compile(text: str) -> Any:
    """Parse and compile without the bounded compile cache."""
    expression_class = getattr(feel, "Expression", None)
    if expression_class is not None:
        return expression_class(text)
    cached = getattr(feel, "_compile_cached", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
    return feel.compile(text)


def same_result(feel_result: Any, python_result: Any) -> bool:
    return json.dumps(feel_result, sort_keys=True, default=str) == json.dumps(
        python_result, sort_keys=True, default=str
    )


def main() -> int:
    context = build_context()
    rows = []
    for case in CASES:
        compiled = feel.compile(case.expression)
        feel_result = compiled.evaluate(context)
        python_result = case.python(context)
        feel_time, python_time, parse_time = best_seconds_per_call(
            partial(compiled.evaluate, context),
            partial(case.python, context),
            partial(uncached_compile, case.expression),
        )
        rows.append(
            (
                case,
                1.0 / feel_time,
                1.0 / python_time,
                feel_time / python_time,
                parse_time * 1e6,
                same_result(feel_result, python_result),
            )
        )

    header = (
        f"{'expression':<58} {'FEEL ev/s':>11} {'Python ev/s':>12} {'ratio':>7} "
        f"{'parse µs':>9} {'same':>5}"
    )
    print(f"FEEL benchmark (Python {sys.version.split()[0]}, best of {REPEATS} repeats)")
    print(header)
    print("-" * len(header))
    for case, feel_rate, python_rate, ratio, parse_us, same in rows:
        print(
            f"{case.expression[:58]:<58} {feel_rate:>11,.0f} {python_rate:>12,.0f} "
            f"{ratio:>6.2f}x {parse_us:>9.1f} {'yes' if same else 'NO':>5}"
        )
    print()
    worst_ratio = max(row[3] for row in rows)
    worst_parse = max(row[4] for row in rows)
    ratio_ok = worst_ratio <= RATIO_TARGET
    parse_ok = worst_parse < PARSE_TARGET_US
    results_ok = all(row[5] for row in rows)
    print(
        f"{'PASS' if ratio_ok else 'FAIL'}: evaluation ratio <= {RATIO_TARGET:.0f}x "
        f"(worst {worst_ratio:.2f}x)"
    )
    print(
        f"{'PASS' if parse_ok else 'FAIL'}: parse time < {PARSE_TARGET_US:.0f} µs "
        f"(worst {worst_parse:.1f} µs)"
    )
    print(
        f"{'PASS' if results_ok else 'FAIL'}: FEEL and Python results agree "
        f"({sum(row[5] for row in rows)}/{len(rows)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
