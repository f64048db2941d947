"""The operator process: its configuration (from ``serinus run`` flags) and the adapters built once.

``build_runtime`` wires the real adapters behind the ports (the ``kubernetes`` client from in-cluster
credentials or ``KUBECONFIG``, the Git adapter with its cache directory, Prometheus providers behind
the allowlist, the webhook caller), the reconciler, the HTTP endpoint and leader election.
``Runtime.start`` starts the HTTP server and the election thread; ``Runtime.stop`` releases the Lease.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from analysis.providers import Allowlist, ProviderConfig, make_provider
from analysis.query import MetricProvider
from controller.core.durations import parse_duration
from controller.gitops.port import GitIdentity
from controller.gitops.repository import GitRepositories
from controller.kube.client import build_api_client
from controller.kube.events import KubeEvents
from controller.kube.lease import LeaderElector
from controller.kube.objects import KubeObjects, Objects
from controller.kube.services import KubeServices
from controller.kube.status import KubeCanaryStatus
from controller.kube.workloads import KubeWorkloads
from controller.operator.lookups import IndexTemplates, KubeSecrets
from controller.operator.metrics import OperatorMetrics
from controller.operator.ports import AlwaysLeader, Ports
from controller.operator.server import Endpoints, HttpServer
from controller.operator.webhooks import HttpWebhookCaller
from controller.reconcile import Reconciler, Settings
from controller.routers.apply import Router, RouterAdapter
from controller.routers.registry import get_router

log = logging.getLogger("serinus.operator")

#: Seconds a Lease is held without renewal before another replica takes over (default 15).
LEASE_DURATION_ENV = "SERINUS_LEASE_DURATION_SECONDS"

_AUTHOR = re.compile(r"\A\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>\s*\Z")


class ConfigError(ValueError):
    """A ``serinus run`` flag has a value the operator cannot use."""


def parse_author(text: str) -> GitIdentity:
    """``'Name <email>'`` -> ``GitIdentity``; ``ConfigError`` otherwise."""
    match = _AUTHOR.match(text)
    if match is None:
        raise ConfigError(f"--git-author must look like 'Name <email>', got {text!r}")
    return GitIdentity(match.group("name"), match.group("email"))


@dataclass(frozen=True)
class RunConfig:
    """The operator's configuration, one field per ``serinus run`` flag."""

    namespaces: tuple[str, ...] = ()
    metrics_port: int = 8080
    metrics_server: str = "http://prometheus.monitoring:9090"
    metrics_allowlist: tuple[str, ...] = ()
    leader_election: bool = True
    lease_name: str = "serinus-leader"
    lease_namespace: str = "default"
    lease_duration: int = 15
    identity: str = field(default_factory=socket.gethostname)
    git_cache_dir: str | None = None
    git_author: GitIdentity = field(default_factory=GitIdentity)
    git_webhook_secret_env: str = "SERINUS_GIT_WEBHOOK_SECRET"  # noqa: S105 - a variable name
    tick: float = 2.0
    resync: float = 30.0
    log_format: str = "json"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunConfig:
        """Validate the parsed flags."""
        try:
            tick = parse_duration(args.tick)
        except ValueError as exc:
            raise ConfigError(f"--tick: {exc}") from exc
        if tick <= 0:
            raise ConfigError(f"--tick must be positive, got {args.tick!r}")
        try:
            resync = parse_duration(args.resync)
        except ValueError as exc:
            raise ConfigError(f"--resync: {exc}") from exc
        if not 0 <= args.metrics_port < 65536:
            raise ConfigError(f"--metrics-port must be 0..65535, got {args.metrics_port}")
        try:
            lease_duration = int(os.environ.get(LEASE_DURATION_ENV, "15"))
        except ValueError:
            lease_duration = 0
        if lease_duration < 1:
            raise ConfigError(f"${LEASE_DURATION_ENV} must be a whole number of seconds >= 1")
        allow = Allowlist([args.metrics_server])
        try:
            allow.check(args.metrics_server)
        except ValueError as exc:
            raise ConfigError(f"--metrics-server: {exc}") from exc
        return cls(
            namespaces=tuple(args.namespace),
            metrics_port=args.metrics_port,
            metrics_server=args.metrics_server,
            metrics_allowlist=tuple(args.metrics_allowlist),
            leader_election=args.leader_election,
            lease_name=args.lease_name,
            lease_namespace=args.lease_namespace or os.environ.get("POD_NAMESPACE") or "default",
            lease_duration=lease_duration,
            identity=args.identity or socket.gethostname(),
            git_cache_dir=args.git_cache_dir,
            git_author=parse_author(args.git_author),
            git_webhook_secret_env=args.git_webhook_secret_env,
            tick=tick,
            resync=resync,
            log_format=args.log_format,
        )

    @property
    def allowlist(self) -> Allowlist:
        """Metric server addresses a MetricTemplate may query; ``--metrics-server`` always is."""
        return Allowlist([self.metrics_server, *self.metrics_allowlist])


@dataclass
class Runtime:
    """The adapters and threads of one operator process (kept in kopf's ``memo``)."""

    config: RunConfig
    reconciler: Reconciler
    templates: IndexTemplates
    server: HttpServer
    elector: LeaderElector | None
    git: GitRepositories
    ready: threading.Event
    stop_flag: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Serve HTTP and campaign for the Lease in the background."""
        self.server.start()
        if self.elector is not None:
            elector = self.elector

            def changed(leading: bool) -> None:
                log.info("leadership %s (%s)", "acquired" if leading else "lost", elector.identity)

            interval = max(0.2, self.config.lease_duration / 3)
            thread = threading.Thread(target=elector.run, args=(self.stop_flag, changed, interval),
                                      name="serinus-lease", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ready.set()
        log.info("operator started: /metrics on port %d, tick %gs, resync %gs, leader election %s",
                 self.server.port, self.config.tick, self.config.resync, "on" if self.elector else "off")

    def stop(self) -> None:
        """Stop the election (releasing the Lease) and the HTTP server."""
        self.ready.clear()
        self.stop_flag.set()
        for thread in self._threads:
            thread.join(10)
        self.server.stop()
        self.git.close()


def build_runtime(config: RunConfig, objects: Objects | None = None) -> Runtime:
    """Build every adapter once: Kubernetes, Git, metric providers, webhooks, HTTP, leader election."""
    api_client = None
    if objects is None:
        api_client = build_api_client()
        objects = KubeObjects(api_client)
    cache = (Path(config.git_cache_dir) if config.git_cache_dir
             else Path(tempfile.mkdtemp(prefix="serinus-git-")))
    git = GitRepositories(cache, identity=config.git_author)
    allowlist = config.allowlist
    elector = (LeaderElector(objects, config.lease_namespace, config.lease_name, config.identity,
                             duration_seconds=config.lease_duration)
               if config.leader_election else None)
    metrics = OperatorMetrics()
    templates = IndexTemplates()

    def providers(provider: ProviderConfig) -> MetricProvider:
        return make_provider(provider, allowlist)

    def routers(name: str) -> Router:
        return RouterAdapter(objects, get_router(name))

    if api_client is None:
        api_client = build_api_client()
    ports = Ports(
        canaries=KubeCanaryStatus(objects),
        workloads=KubeWorkloads(objects),
        services=KubeServices(objects),
        routers=routers,
        events=KubeEvents(objects, config.identity),
        git=git,
        secrets=KubeSecrets(api_client),
        templates=templates,
        providers=providers,
        webhooks=HttpWebhookCaller(),
        leadership=elector if elector is not None else AlwaysLeader(),
        metrics=metrics,
    )
    reconciler = Reconciler(ports, Settings(metrics_server=config.metrics_server,
                                            git_identity=config.git_author, resync=config.resync))
    ready = threading.Event()

    def trigger(namespace: str, name: str) -> bool:
        if ports.canaries.read(namespace, name) is None:
            return False
        reconciler.trigger(namespace, name)
        threading.Thread(target=reconciler.tick, args=(namespace, name), name="serinus-push",
                         daemon=True).start()
        return True

    endpoints = Endpoints(metrics=metrics, trigger=trigger, ready=ready,
                          secret=lambda: os.environ.get(config.git_webhook_secret_env, ""))
    server = HttpServer(endpoints, config.metrics_port)
    return Runtime(config, reconciler, templates, server, elector, git, ready)
