"""``serinus sandbox up|down``: the command-line face of :mod:`sandbox.session`.

``serinus sandbox up --workdir DIR`` starts the sandbox (detached), prints its URLs and returns once it
is ready; ``serinus sandbox down --workdir DIR`` stops every process it started. Also runnable as
``python -m sandbox.cli up|down --workdir DIR [--rps N]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sandbox.session import Sandbox, SandboxError
from sandbox.session import down as stop_sandbox


def up(args: argparse.Namespace) -> int:
    """Handler of ``sandbox up``: start, wait until ready, print the URLs; 1 with a message on failure."""
    workdir = Path(args.workdir)
    try:
        sandbox = Sandbox.up(
            workdir,
            rps=float(getattr(args, "rps", 20.0)),
            control_plane=str(getattr(args, "control_plane", "emulator")),
        )
    except SandboxError as exc:
        print(f"serinus sandbox up: {exc}", file=sys.stderr)
        return 1
    print(f"sandbox ready in {sandbox.workdir}")
    for label, value in (
        ("control plane", f"{sandbox.control_plane} ({sandbox.server_version})"),
        ("Kubernetes API", sandbox.api_url),
        ("kubeconfig", str(sandbox.kubeconfig)),
        ("namespace", sandbox.namespace),
        ("Prometheus", sandbox.prometheus_url),
        ("Envoy listener", f"{sandbox.envoy_url}  (demo host: {sandbox.demo_host})"),
        ("Envoy admin", sandbox.envoy_admin_url),
        ("fleet repository", f"{sandbox.git_url}  ({sandbox.fleet_repo})"),
    ):
        print(f"  {label + ':':<18} {value}")
    print(f"  try: kubectl --kubeconfig {sandbox.kubeconfig} get namespaces")
    print(f"  stop: serinus sandbox down --workdir {sandbox.workdir}")
    return 0


def down(args: argparse.Namespace) -> int:
    """Handler of ``sandbox down``: stop every recorded process (nothing running is fine)."""
    workdir = Path(args.workdir)
    leftovers = stop_sandbox(workdir)
    if leftovers:
        print(f"stopped leftover processes: {', '.join(leftovers)}")
    print(f"sandbox in {workdir.resolve()} is down")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.cli up|down --workdir DIR``."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("up", help="start the sandbox and wait until it is ready")
    start.add_argument("--workdir", required=True)
    start.add_argument("--rps", type=float, default=20.0, help="steady requests per second to the demo host")
    start.add_argument("--control-plane", choices=("emulator", "kubernetes"), default="emulator")
    start.set_defaults(handler=up)
    stop = sub.add_parser("down", help="stop every process the sandbox started")
    stop.add_argument("--workdir", required=True)
    stop.set_defaults(handler=down)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
