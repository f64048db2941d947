"""The ``serinus`` command (also installed as the kubectl plugin ``kubectl-serinus``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from controller import __version__

Handler = Callable[[argparse.Namespace], int]

# Commands whose implementation has not landed yet say so and fail: never pretend to work.
_PENDING: dict[str, str] = {}


def _pending(name: str) -> Handler:
    def handler(_: argparse.Namespace) -> int:
        print(f"serinus {name}: not yet available; it lands with {_PENDING[name]}", file=sys.stderr)
        return 2

    return handler


def _sandbox_up(args: argparse.Namespace) -> int:
    from sandbox.cli import up  # the sandbox is a development tool: imported only when asked for

    return up(args)


def _sandbox_down(args: argparse.Namespace) -> int:
    from sandbox.cli import down

    return down(args)


def _sandbox_demo(args: argparse.Namespace) -> int:
    from sandbox.demo import main as demo

    return demo(args)


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """Flags of ``serinus run``; the Helm chart passes exactly these."""
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="watch Canaries in this namespace (repeatable); without it, every namespace",
    )
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace (the default)")
    run.add_argument(
        "--metrics-port", type=int, default=8080, help="port of /metrics, /healthz, /readyz and /hooks/git"
    )
    run.add_argument(
        "--metrics-server",
        default="http://prometheus.monitoring:9090",
        help="Prometheus address for the built-in metrics (request-success-rate, request-duration)",
    )
    run.add_argument(
        "--metrics-allowlist",
        action="append",
        default=[],
        metavar="URL",
        help="address a MetricTemplate may query: a URL prefix, host, host:port or * (repeatable); "
        "--metrics-server is always allowed",
    )
    run.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hold a coordination.k8s.io Lease; only the leader acts",
    )
    run.add_argument("--lease-name", default="serinus-leader", help="name of the leader-election Lease")
    run.add_argument(
        "--lease-namespace",
        default=None,
        help="namespace of the Lease (default: $POD_NAMESPACE, else default)",
    )
    run.add_argument("--identity", default=None, help="holder identity in the Lease (default: the host name)")
    run.add_argument(
        "--git-cache-dir", default=None, help="where Git clones are cached (default: a temporary directory)"
    )
    run.add_argument(
        "--git-author",
        default="Serinus <serinus@serinus.dev>",
        help="author and committer of revert commits, as 'Name <email>'",
    )
    run.add_argument(
        "--git-webhook-secret-env",
        default="SERINUS_GIT_WEBHOOK_SECRET",
        help="environment variable holding the HMAC secret of the push webhook",
    )
    run.add_argument(
        "--tick", default="2s", help="how often each Canary is looked at; the core decides when a step is due"
    )
    run.add_argument(
        "--resync",
        default="30s",
        help="how long a Canary at rest (Initialized, Succeeded, Failed) with nothing new trusts its last "
        "read of its Deployments and route and is not ticked (a Canary edit, a push webhook or its Git "
        "interval still wake it); drift is repaired within this; 0 reads everything every tick",
    )
    run.add_argument("--log-format", choices=["json", "text"], default="json", help="log line format")


def _run(args: argparse.Namespace) -> int:
    """Start the operator: kopf with the handlers of ``controller.handlers``, until SIGTERM/SIGINT."""
    import kopf

    from controller import handlers
    from controller.operator.logs import configure_logging
    from controller.operator.runtime import ConfigError, RunConfig

    try:
        config = RunConfig.from_args(args)
    except ConfigError as exc:
        print(f"serinus run: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_format)
    registry = kopf.OperatorRegistry()
    handlers.register(registry, config)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        memo=kopf.Memo(),
    )
    return 0


def _get(args: argparse.Namespace) -> int:
    """``serinus get canaries [-n NS | -A]``."""
    from controller.operator import commands

    try:
        catalog = commands.KubeCatalog(args.kubeconfig)
        namespace = (None if args.all_namespaces
                     else args.namespace or commands.current_namespace(args.kubeconfig))
        found = catalog.list(namespace)
    except Exception as exc:
        print(f"serinus get: {exc}", file=sys.stderr)
        return 1
    if not found:
        where = "any namespace" if namespace is None else f"namespace {namespace}"
        print(f"No canaries found in {where}.", file=sys.stderr)
        return 0
    sys.stdout.write(commands.table(found, args.all_namespaces, commands.now_utc()))
    return 0


def _explain(args: argparse.Namespace) -> int:
    """``serinus explain NS/NAME``."""
    from controller.operator import commands

    try:
        namespace, name = commands.parse_ref(args.ref)
        obj = commands.KubeCatalog(args.kubeconfig).get(namespace, name)
    except commands.BadReference as exc:
        print(f"serinus explain: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"serinus explain: {exc}", file=sys.stderr)
        return 1
    if obj is None:
        print(f"serinus explain: no Canary {args.ref}", file=sys.stderr)
        return 1
    sys.stdout.write(commands.explain(obj, commands.now_utc()))
    return 0


def _control(args: argparse.Namespace) -> int:
    """``serinus promote|abort|retry|suspend|resume NS/NAME``."""
    from controller.operator import commands

    try:
        namespace, name = commands.parse_ref(args.ref)
        token = commands.request_control(commands.KubeCatalog(args.kubeconfig), namespace, name, args.action)
    except commands.BadReference as exc:
        print(f"serinus {args.action}: {exc}", file=sys.stderr)
        return 2
    except commands.NoSuchCanary as exc:
        print(f"serinus {args.action}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"serinus {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"canary {args.ref}: {args.action} requested (token {token}); the controller acts on its next tick")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="serinus",
        description=(
            "Serinus runs canaries for images declared in Git, promotes or rolls back, "
            "and writes the rollback to Git so Git always declares what runs."
        ),
    )
    parser.add_argument("--version", action="version", version=f"serinus {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start the operator (in-cluster credentials, else KUBECONFIG)")
    add_run_arguments(run)
    run.set_defaults(handler=_run)

    get = sub.add_parser("get", help="list canaries, like kubectl get")
    get.add_argument("kind", choices=["canaries", "canary"], help="what to list")
    scope = get.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace to list (default: the current one)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="list in every namespace")
    get.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    get.set_defaults(handler=_get)

    explain = sub.add_parser("explain", help="say in words why a canary is where it is")
    explain.add_argument("ref", metavar="NS/NAME", help="the canary, as namespace/name")
    explain.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    explain.set_defaults(handler=_explain)

    for name, text in (
        ("promote", "skip the remaining steps and promote the current revision"),
        ("abort", "roll back now (and revert Git when rollback.git is revert)"),
        ("retry", "run a paused or failed revision again, lifting its quarantine"),
        ("suspend", "stop acting on a canary until resumed"),
        ("resume", "act on a suspended canary again"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("ref", metavar="NS/NAME", help="the canary, as namespace/name")
        cmd.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
        cmd.set_defaults(handler=_control, action=name)

    sandbox = sub.add_parser("sandbox", help="a whole local environment on one machine")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    up = sandbox_sub.add_parser("up", help="start a control plane, workloads, Envoy, Prometheus, git")
    up.add_argument("--workdir", required=True, help="directory for state, logs and the kubeconfig")
    _control_plane_option(up, default="emulator")
    up.set_defaults(handler=_sandbox_up)
    down = sandbox_sub.add_parser("down", help="stop every process `sandbox up` started")
    down.add_argument("--workdir", required=True, help="the directory given to `sandbox up`")
    down.set_defaults(handler=_sandbox_down)
    demo = sandbox_sub.add_parser("demo", help="promote a good release, revert a bad one in Git")
    demo.add_argument("--workdir", help="directory for state (default: a temporary one)")
    demo.add_argument("--report", help="write a JSON report of the releases to this file")
    _control_plane_option(demo, default="emulator")
    demo.set_defaults(handler=_sandbox_demo)
    return parser


def _control_plane_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--control-plane", choices=("emulator", "kubernetes"), default=default,
        help="emulator: the project's own API emulator, nothing to build (default); kubernetes: the real "
        "etcd, kube-apiserver, kube-controller-manager and kube-scheduler that ./dev setup builds, "
        "with a node that runs pods as processes",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``serinus``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
