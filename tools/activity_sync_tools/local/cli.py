"""``activity-sync local up``: the local stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from activity_sync_tools.cli import Subcommands


def register(subcommands: Subcommands) -> None:
    local = subcommands.add_parser(
        "local",
        help="run the stack on this machine, without Docker or an AWS account",
        description="Run the stack of template.yaml locally: moto as AWS, functions as worker processes.",
    )
    local_commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = local_commands.add_parser(
        "up",
        help="bring the local stack up in the foreground",
        description=(
            "Create the template's tables, queues and SSM parameters in an embedded moto, serve its "
            "HTTP API, poll its queues and run its schedules; print the endpoints and stay up until "
            "Ctrl-C or SIGTERM. Scripts drive it over HTTP under /_local/ on the API port."
        ),
    )
    up.add_argument(
        "--template", type=Path, default=Path("template.yaml"), help="SAM template (default: %(default)s)"
    )
    up.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    up.add_argument(
        "--port", type=int, default=3000, help="HTTP API port, 0 for a free one (default: %(default)s)"
    )
    up.add_argument(
        "--parameter-overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values (also ParameterKey=K,ParameterValue=V, as sam takes them)",
    )
    up.add_argument(
        "--env",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment variables for every function (e.g. REQUESTS_CA_BUNDLE=...)",
    )
    up.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".local"),
        help="logs and endpoints.json go here (default: %(default)s)",
    )
    up.add_argument(
        "--stack-name", default="activity-sync", help="prefix of physical names (default: %(default)s)"
    )
    up.add_argument("--region", default="us-east-1", help="(default: %(default)s)")
    up.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run every schedule this often instead of its rate(...)",
    )
    up.add_argument(
        "--no-schedules", action="store_true", help="run schedules only on demand (POST /_local/poll)"
    )
    up.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help=(
            "at most N invocations of any one function, and N batches of any one queue, at once "
            "(1: one at a time); by default as the template says (ReservedConcurrentExecutions, "
            "ScalingConfig.MaximumConcurrency)"
        ),
    )
    up.set_defaults(run=run_up)


def parse_assignments(items: Iterable[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` items (several may share one shell word, space-separated) into a dict; also
    reads sam's ``ParameterKey=K,ParameterValue=V`` form."""
    values: dict[str, str] = {}
    for item in items:
        for word in shlex.split(item):
            if word.startswith("ParameterKey="):
                key_part, _, value_part = word.partition(",")
                key = key_part.removeprefix("ParameterKey=")
                if not value_part.startswith("ParameterValue="):
                    raise ValueError(f"{what}: expected ParameterKey=K,ParameterValue=V, got {word!r}")
                values[key] = value_part.removeprefix("ParameterValue=")
                continue
            key, separator, value = word.partition("=")
            if not separator or not key:
                raise ValueError(f"{what}: expected KEY=VALUE, got {word!r}")
            values[key] = value
    return values


def describe_endpoints(endpoints: dict[str, Any]) -> str:
    """The endpoints as the terminal shows them."""
    lines = [f"activity-sync local stack {endpoints['stack_name']!r} is up", ""]
    lines.append(f"API             {endpoints['api_url']}")
    lines.extend(f"  {route:<45} -> {function}" for route, function in endpoints["routes"].items())
    lines.append(
        f"AWS (moto)      {endpoints['aws_endpoint_url']}   region {endpoints['region']}, "
        f"account {endpoints['account_id']}, any credentials"
    )
    for title, key in (("Queues", "queues"), ("Tables", "tables"), ("SSM parameters", "ssm_parameters")):
        lines.append(f"{title}:")
        lines.extend(f"  {logical_id:<45} {value}" for logical_id, value in endpoints[key].items())
    lines.append("Schedules:")
    lines.extend(f"  {name:<45} {expression}" for name, expression in endpoints["schedules"].items())
    lines.append(
        f"Logs            {endpoints['log_dir']}  (one file per function, http-api.log, local-runtime.log)"
    )
    lines.append(f"Endpoints file  {Path(endpoints['state_dir']) / 'endpoints.json'}")
    lines.append("Control:")
    lines.extend(f"  {route}" for route in endpoints["control"].values())
    return "\n".join(lines)


def run_up(arguments: argparse.Namespace) -> int:
    from activity_sync_tools.local.signals import stop_signals
    from activity_sync_tools.local.stack import LocalStack
    from activity_sync_tools.local.template import TemplateError

    try:
        overrides = parse_assignments(arguments.parameter_overrides, "--parameter-overrides")
        extra_env = parse_assignments(arguments.env, "--env")
    except ValueError as error:
        print(f"activity-sync local up: {error}", file=sys.stderr)
        return 2
    # moto runs in this process and reads the shell's AWS profile: a profile set for real work
    # (or one that does not exist here) must not reach it. Workers get a clean environment anyway.
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(variable, None)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    runtime_logger = logging.getLogger("activity_sync_tools.local")
    runtime_logger.addHandler(console)
    try:
        try:
            stack = LocalStack.start(
                arguments.template,
                parameter_overrides=overrides,
                extra_env=extra_env,
                stack_name=arguments.stack_name,
                region=arguments.region,
                host=arguments.host,
                api_port=arguments.port,
                state_dir=arguments.state_dir,
                poll_interval_seconds=arguments.poll_interval,
                schedules=not arguments.no_schedules,
                concurrency=arguments.concurrency,
            )
        except (TemplateError, OSError, ValueError) as error:
            print(f"activity-sync local up: {error}", file=sys.stderr)
            return 1
        with stack, stop_signals() as wait_for_stop:
            print(describe_endpoints(stack.endpoints()), flush=True)
            print("\nReady. Ctrl-C stops the stack.", flush=True)
            wait_for_stop()
            print("Stopping...", file=sys.stderr, flush=True)
        return 0
    finally:
        runtime_logger.removeHandler(console)
