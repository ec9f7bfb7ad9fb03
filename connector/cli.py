"""``http-polling-connector run | demo | dev-engine | validate FILE.bpmn... | --version``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from connector import __version__

COMMANDS = ("run", "demo", "dev-engine", "validate")


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
    return parser


def validate_files(paths: Sequence[str]) -> tuple[list[str], int]:
    """(one line per problem as ``file:element:property: reason``, elements checked)."""
    from connector.bpmn import BpmnError
    from connector.elements import load_elements

    problems: list[str] = []
    checked = 0
    for path in paths:
        try:
            with open(path, "rb") as handle:
                xml = handle.read()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        try:
            configs, errors = load_elements(xml, source=path)
        except BpmnError as exc:
            problems.append(f"{path}: not a readable BPMN file: {exc}")
            continue
        checked += len(configs) + len({(e.process_id, e.element_id) for e in errors})
        for error in errors:
            problems.append(f"{path}:{error.element_id}:{error.property}: {error.reason}")
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
    from connector.observability import setup_logging
    from connector.worker import run_worker

    flags = {opt.field: getattr(namespace, opt.field, None) for opt in OPTIONS}
    try:
        settings = load_settings(flags)
    except ConfigError as exc:
        print("http-polling-connector: invalid configuration", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    setup_logging(settings.log_format, settings.log_level)
    try:
        code = asyncio.run(run_worker(settings))
    except KeyboardInterrupt:
        code = 0
    # Exit now: the interpreter would otherwise wait for pool threads still blocked in a
    # trickling response or a hung cluster call (the worker has stopped and logged it).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
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
    if namespace.command == "demo":
        from connector.demo import run_demo

        return run_demo(log_format=namespace.log_format, timeout=namespace.timeout)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
