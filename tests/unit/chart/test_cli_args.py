"""The chart's container command line is one `serinus run` accepts, meaning what the values say.

Each value combination is rendered with the real helm and the container's command and arguments are
parsed by `controller.cli.build_parser()`, the parser `serinus` itself uses: a flag renamed or removed
in the CLI, or a value passed to the wrong flag, fails here.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from controller import cli
from tests.unit.chart.helm import COMBINATIONS, NAMESPACE, controller_container, one, render


def parse(container: dict[str, Any]) -> argparse.Namespace:
    """The container's command line as `serinus` parses it (argparse exits on an unknown flag)."""
    assert container["command"] == ["serinus"]
    try:
        return cli.build_parser().parse_args(container["args"])
    except SystemExit as exc:  # argparse reports the bad flag on stderr and exits 2
        raise AssertionError(f"serinus rejects the chart's arguments {container['args']}") from exc


def deep(values: dict[str, Any], path: str, default: Any) -> Any:
    """values[a][b]... for the dotted path, else `default` (the chart's default)."""
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_rendered_arguments_parse_and_carry_the_values(name: str) -> None:
    values = COMBINATIONS[name]
    manifests = render(values)
    container = controller_container(manifests)
    args = parse(container)

    assert args.command == "run"
    if values.get("clusterWide"):
        assert args.all_namespaces and args.namespace == []
    else:
        assert not args.all_namespaces
        assert args.namespace == (values.get("watchNamespaces") or [NAMESPACE])
    assert args.metrics_port == deep(values, "metrics.port", 8080)
    assert args.metrics_server == deep(values, "metrics.server", "http://prometheus.monitoring:9090")
    assert args.metrics_allowlist == deep(values, "metrics.allowlist", [])
    assert args.leader_election is deep(values, "leaderElection.enabled", True)
    if args.leader_election:
        assert args.lease_name == deep(values, "leaderElection.leaseName", "serinus-leader")
        assert args.lease_namespace == (deep(values, "leaderElection.leaseNamespace", "") or NAMESPACE)
    assert args.git_cache_dir == deep(values, "git.cacheDir", "/var/cache/serinus/git")
    assert args.git_author == deep(values, "git.author", "Serinus <serinus@serinus.dev>")
    assert args.git_webhook_secret_env == deep(values, "git.webhook.envName", "SERINUS_GIT_WEBHOOK_SECRET")
    assert args.tick == deep(values, "tick", "2s")
    assert args.resync == deep(values, "resync", "30s")
    assert args.log_format == deep(values, "logFormat", "json")

    # The flags point at what the pod provides: the cache is a mounted emptyDir, the metrics port
    # is the container's named port, the webhook variable comes from the named Secret.
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts[args.git_cache_dir]]
    assert {"name": "http", "containerPort": args.metrics_port, "protocol": "TCP"} in container["ports"]
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    secret_name = deep(values, "git.webhook.secretName", "")
    if secret_name:
        ref = env[args.git_webhook_secret_env]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret_name, "key": deep(values, "git.webhook.secretKey", "secret")}
    else:
        assert args.git_webhook_secret_env not in env


def test_every_run_flag_is_set_by_the_chart() -> None:
    """The chart passes every flag of `serinus run` except --identity (the pod name is the host name)."""
    run = argparse.ArgumentParser(add_help=False)
    cli.add_run_arguments(run)
    flags = {opt for action in run._actions for opt in action.option_strings}
    flags -= {"--identity"}
    rendered: set[str] = set()
    for values in (
        COMBINATIONS["everything"],
        COMBINATIONS["cluster-wide"],
        COMBINATIONS["single-no-leader-election"],
    ):
        rendered |= {a.split("=", 1)[0] for a in controller_container(render(values))["args"][1:]}
    assert flags == rendered, f"flags of serinus run the chart never sets: {sorted(flags - rendered)}"
