"""``http-polling-connector run | demo | dev-engine | validate FILE.bpmn... | explain FILE.bpmn
[ELEMENT] | --version``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from connector import __version__

COMMANDS = ("run", "demo", "dev-engine", "validate", "explain")


def _parser() -> argparse.ArgumentParser:
    from connector.config import add_arguments

    parser = argparse.ArgumentParser(
        prog="http-polling-connector",
        description="HTTP Polling inbound connector worker for Camunda 8 / Zeebe.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="serve every waiting polling element of the cluster",
        description="Serve every waiting HTTP polling element of the cluster. Every flag has "
        "an environment variable; flags win over the environment.",
    )
    add_arguments(run)
    demo = sub.add_parser("demo", help="run a self-contained demo on the embedded engine")
    demo.add_argument("--log-format", choices=("plain", "json"), default="plain")
    demo.add_argument("--timeout", type=float, default=50.0, help="give up after this many seconds")
    sub.add_parser(
        "dev-engine",
        help="run the embedded development engine (gRPC + REST v2)",
        add_help=False,
    )
    validate = sub.add_parser(
        "validate", help="check the polling elements of BPMN files; exit 1 on errors"
    )
    validate.add_argument("files", nargs="+", metavar="FILE.bpmn")
    from connector.explain import add_arguments as add_explain_arguments

    explain = sub.add_parser(
        "explain",
        help="send one poll of a polling element and explain whether and why it would fire",
        description="Bind the element's request as the worker would, send it once (or every "
        "interval with --watch), and show the request (secrets masked), the response, the "
        "activation condition's value and why, and the message that would be published.",
    )
    add_explain_arguments(explain)
    return parser


def validate_files(paths: Sequence[str]) -> tuple[list[str], int]:
    """(one line per problem as ``file:element:property: reason``, elements checked)."""
    from connector.bpmn import BpmnError
    from connector.elements import load_elements

    problems: list[str] = []
    checked = 0
    warnings: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                xml = handle.read()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            configs, errors = load_elements(xml, source=path, warnings=warnings)
        except BpmnError as exc:
            problems.append(f"{path}: not a readable BPMN file: {exc}")
            continue
        except RecursionError:  # a guard: the parser and the walks do not recurse
            problems.append(f"{path}: not a readable BPMN file: nested too deeply")
            continue
        checked += len(configs) + len({(e.process_id, e.element_id) for e in errors})
        for error in errors:
            problems.append(f"{path}:{error.element_id}:{error.property}: {error.reason}")
    # Warnings do not fail validation; printed to stderr so stdout stays one problem a line.
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    return problems, checked


def _validate(paths: Sequence[str]) -> int:
    problems, checked = validate_files(paths)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) in {len(paths)} file(s)", file=sys.stderr)
        return 1
    print(f"ok: {checked} polling element(s) in {len(paths)} file(s)")
    return 0


def _run(namespace: argparse.Namespace) -> int:
    from connector.config import OPTIONS, ConfigError, load_settings
    from connector.kubernetes import KubernetesError
    from connector.observability import setup_logging
    from connector.resharding import resolve_shard_count
    from connector.worker import run_worker

    flags = {opt.field: getattr(namespace, opt.field, None) for opt in OPTIONS}
    try:
        settings = load_settings(flags)
        # --shard-count auto: the replica count is read before anything starts.
        settings, shard_count_reader = resolve_shard_count(settings, os.environ)
    except ConfigError as exc:
        return _invalid(exc.problems)
    except KubernetesError as exc:
        return _invalid([f"--shard-count=auto: {exc}"])
    setup_logging(settings.log_format, settings.log_level)
    try:
        code = asyncio.run(run_worker(settings, shard_count_reader))
    except KeyboardInterrupt:
        code = 0
    except ConfigError as exc:  # found while starting, e.g. an unwritable --state-dir
        return _invalid(exc.problems)
    # Exit now: the interpreter would otherwise wait for pool threads still blocked in a
    # trickling response or a hung cluster call (the worker has stopped and logged it).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _invalid(problems: Sequence[str]) -> int:
    print("http-polling-connector: invalid configuration", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def quiet_grpc_logs() -> None:
    """Switch gRPC's native (C-core) logging off unless the operator asked for it.

    It must run before the first ``import grpc``: C-core reads the variable once. Without
    it a TLS or connection problem prints one line per reconnect attempt to stderr; the
    worker logs each connectivity change itself, once, in words. Set ``GRPC_VERBOSITY=DEBUG``
    (and ``GRPC_TRACE``) to see gRPC's own view when debugging a connection.
    """
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def main(argv: Sequence[str] | None = None) -> int:
    quiet_grpc_logs()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "dev-engine":
        from connector.devengine.server import main as dev_engine_main

        return dev_engine_main(args[1:])
    parser = _parser()
    namespace = parser.parse_args(args)
    if namespace.command == "run":
        return _run(namespace)
    if namespace.command == "validate":
        return _validate(namespace.files)
    if namespace.command == "explain":
        from connector.explain import run as run_explain

        return run_explain(namespace)
    if namespace.command == "demo":
        from connector.demo import run_demo

        return run_demo(log_format=namespace.log_format, timeout=namespace.timeout)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
