"""The Canary spec as typed, frozen values, parsed from the API server's dict with precise errors.

``parse_canary(body)`` returns a ``CanarySpec`` or raises ``SpecError`` listing every problem found
(not just the first), each as ``(path, message)``, e.g.
``spec.analysis.stepWeight: must be 1..100, got 0``. Defaults follow Flagger so that a ported
Flagger ``Canary`` behaves the same.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from analysis.verdict import Range
from controller.core.durations import DurationError, parse_duration

PROVIDERS: tuple[str, ...] = ("gatewayapi", "istio", "smi", "nginx", "kubernetes")
"""Traffic providers known to the core (the router registry must offer each)."""

BUILTIN_METRICS: tuple[str, ...] = ("request-success-rate", "request-duration")
"""Metrics every provider offers without a MetricTemplate."""

MATCH_PROVIDERS: tuple[str, ...] = ("istio", "gatewayapi", "nginx")
"""Providers able to route by header/cookie matches (A/B testing)."""

GIT_SCHEMES: tuple[str, ...] = ("https://", "http://", "ssh://", "git://", "file://")


class WebhookType(enum.StrEnum):
    """The eight webhook types of Flagger, with the same meaning."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


class Strategy(enum.StrEnum):
    """How traffic reaches the target during a run, derived from the analysis fields."""

    CANARY = "canary"  # weights step up (stepWeight/stepWeights up to maxWeight)
    BLUE_GREEN = "blue-green"  # iterations, no weights: the target is tested apart, then switched
    AB_TESTING = "ab-testing"  # iterations with match: matching requests go to the target


class RollbackGit(enum.StrEnum):
    """What a rollback does to Git."""

    REVERT = "revert"
    NONE = "none"


@dataclass(frozen=True)
class ObjectRef:
    """A reference to a Kubernetes object by name (namespace empty = the Canary's)."""

    name: str
    namespace: str = ""


@dataclass(frozen=True)
class TargetRef:
    """``spec.targetRef``: the Deployment declared in Git, also the canary workload."""

    name: str
    kind: str = "Deployment"
    api_version: str = "apps/v1"


@dataclass(frozen=True)
class GitSource:
    """``spec.source.git``: where the declared image of the target lives."""

    url: str
    path: str
    branch: str = "main"
    container: str = ""  # empty: the first container
    values_key: str = ""  # only for Helm values files
    interval: float = 30.0  # seconds between polls
    secret_ref: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    """``spec.service``: the apex/primary/canary Services and mesh specifics."""

    port: int
    target_port: int | str
    name: str = ""  # empty: the target's name
    port_name: str = "http"
    gateway_refs: tuple[ObjectRef, ...] = ()
    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    """One metric checked at every step."""

    name: str
    threshold_range: Range
    interval: float = 60.0  # query window, seconds
    template_ref: ObjectRef | None = None  # None: a built-in metric
    template_variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def builtin(self) -> bool:
        """True for the provider's built-in queries (no MetricTemplate)."""
        return self.template_ref is None


@dataclass(frozen=True)
class WebhookSpec:
    """One webhook; POSTed ``{name, namespace, phase, revision, metadata}``; 2xx is success."""

    name: str
    type: WebhookType
    url: str
    timeout: float = 10.0
    retries: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisSpec:
    """``spec.analysis``: how a run steps and what decides its fate."""

    interval: float = 60.0
    threshold: int = 1
    step_weight: int | None = None
    step_weights: tuple[int, ...] = ()
    max_weight: int = 100
    iterations: int = 0
    match: tuple[Mapping[str, object], ...] = ()
    min_requests: int = 0
    inconclusive_limit: int = 10
    metrics: tuple[MetricSpec, ...] = ()
    webhooks: tuple[WebhookSpec, ...] = ()

    @property
    def strategy(self) -> Strategy:
        """Canary (weights), blue/green (iterations) or A/B (iterations + match)."""
        if self.match:
            return Strategy.AB_TESTING
        if self.iterations > 0:
            return Strategy.BLUE_GREEN
        return Strategy.CANARY

    def webhooks_of(self, kind: WebhookType) -> tuple[WebhookSpec, ...]:
        """The webhooks of one type, in declaration order."""
        return tuple(w for w in self.webhooks if w.type is kind)


@dataclass(frozen=True)
class RollbackSpec:
    """``spec.rollback``: whether a rollback writes a revert commit to Git."""

    git: RollbackGit = RollbackGit.REVERT


@dataclass(frozen=True)
class CanarySpec:
    """A whole Canary: identity plus its parsed spec."""

    name: str
    namespace: str
    target_ref: TargetRef
    source: GitSource
    provider: str
    service: ServiceSpec
    analysis: AnalysisSpec
    progress_deadline_seconds: int = 600
    skip_analysis: bool = False
    suspend: bool = False
    revert_on_deletion: bool = False
    rollback: RollbackSpec = RollbackSpec()

    @property
    def key(self) -> str:
        """``namespace/name``, as used in events, logs and commit trailers."""
        return f"{self.namespace}/{self.name}"


class SpecError(ValueError):
    """A Canary that cannot run; ``errors`` lists every ``(path, message)`` found."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors: tuple[tuple[str, str], ...] = tuple(errors)
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))

    def paths(self) -> list[str]:
        """The paths of the problems, in the order found."""
        return [path for path, _ in self.errors]


_MISSING = object()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Reader:
    """Reads typed fields, collecting errors instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def obj(
        self, parent: Mapping[str, object], key: str, path: str, required: bool = False
    ) -> Mapping[str, object]:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.error(path, "required")
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"must be an object, got {_kind(value)}")
            return {}
        return value

    def lst(self, parent: Mapping[str, object], key: str, path: str) -> list[object]:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_kind(value)}")
            return []
        return value

    def string(self, parent: Mapping[str, object], key: str, path: str, default: str | None = None) -> str:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is None:
                self.error(path, "required")
                return ""
            return default
        if not isinstance(value, str):
            self.error(path, f"must be a string, got {_kind(value)}")
            return default or ""
        if default is None and not value.strip():
            self.error(path, "must not be empty")
        return value

    def integer(
        self,
        parent: Mapping[str, object],
        key: str,
        path: str,
        default: int | None,
        *,
        lo: int | None = None,
        hi: int | None = None,
    ) -> int | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be an integer, got {_kind(value)}")
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                self.error(path, f"must be >= {lo}, got {value}")
            elif lo is None:
                self.error(path, f"must be <= {hi}, got {value}")
            else:
                self.error(path, f"must be {lo}..{hi}, got {value}")
            return default
        return value

    def boolean(self, parent: Mapping[str, object], key: str, path: str, default: bool) -> bool:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, got {_kind(value)}")
            return default
        return value

    def number(self, parent: Mapping[str, object], key: str, path: str) -> float | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            self.error(path, f"must be a number, got {_kind(value)}")
            return None
        return float(value)

    def duration(
        self, parent: Mapping[str, object], key: str, path: str, default: float, minimum: float = 0.0
    ) -> float:
        value = parent.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str):
            self.error(path, f'must be a duration string like "30s" or "1m", got {_kind(value)}')
            return default
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            self.error(path, str(exc))
            return default
        if seconds < minimum:
            self.error(path, f'must be at least {minimum:g}s, got "{value}"')
            return default
        return seconds

    def str_map(self, parent: Mapping[str, object], key: str, path: str) -> dict[str, str]:
        raw = self.obj(parent, key, path)
        out: dict[str, str] = {}
        for k, v in raw.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                self.error(f"{path}.{k}", f"must be a string, got {_kind(v)}")
                continue
            out[str(k)] = str(v)
        return out


def parse_canary(body: Mapping[str, object], default_provider: str | None = None) -> CanarySpec:
    """Parse a Canary object (``metadata`` + ``spec``) into a ``CanarySpec``.

    ``default_provider`` stands in for an absent ``spec.provider`` (the operator's flag, as in
    Flagger). Raises ``SpecError`` listing every problem with its path.
    """
    r = _Reader()
    meta = r.obj(body, "metadata", "metadata", required=True)
    name = r.string(meta, "name", "metadata.name")
    namespace = r.string(meta, "namespace", "metadata.namespace", default="default")
    spec = r.obj(body, "spec", "spec", required=True)

    target = _target_ref(r, spec)
    source = _git_source(r, spec)
    provider = _provider(r, spec, default_provider)
    service = _service(r, spec, provider)
    analysis = _analysis(r, spec, provider)
    deadline = r.integer(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds", 600, lo=1)
    skip = r.boolean(spec, "skipAnalysis", "spec.skipAnalysis", False)
    suspend = r.boolean(spec, "suspend", "spec.suspend", False)
    revert_on_deletion = r.boolean(spec, "revertOnDeletion", "spec.revertOnDeletion", False)
    rollback = _rollback(r, spec)

    if r.errors:
        raise SpecError(r.errors)
    return CanarySpec(
        name=name,
        namespace=namespace,
        target_ref=target,
        source=source,
        provider=provider,
        service=service,
        analysis=analysis,
        progress_deadline_seconds=deadline or 600,
        skip_analysis=skip,
        suspend=suspend,
        revert_on_deletion=revert_on_deletion,
        rollback=rollback,
    )


def _target_ref(r: _Reader, spec: Mapping[str, object]) -> TargetRef:
    raw = r.obj(spec, "targetRef", "spec.targetRef", required=True)
    if not raw:
        return TargetRef(name="")
    name = r.string(raw, "name", "spec.targetRef.name")
    kind = r.string(raw, "kind", "spec.targetRef.kind", default="Deployment")
    if kind != "Deployment":
        r.error("spec.targetRef.kind", f'only Deployment is supported, got "{kind}"')
    api_version = r.string(raw, "apiVersion", "spec.targetRef.apiVersion", default="apps/v1")
    if api_version != "apps/v1":
        r.error("spec.targetRef.apiVersion", f'must be "apps/v1", got "{api_version}"')
    return TargetRef(name=name, kind=kind, api_version=api_version)


def _git_source(r: _Reader, spec: Mapping[str, object]) -> GitSource:
    source = r.obj(spec, "source", "spec.source", required=True)
    if "source" not in spec:
        return GitSource(url="", path="")
    git = r.obj(source, "git", "spec.source.git", required=True)
    if not git:
        return GitSource(url="", path="")
    p = "spec.source.git"
    url = r.string(git, "url", f"{p}.url")
    if url and not url.startswith(GIT_SCHEMES):
        r.error(f"{p}.url", f'must start with one of {", ".join(GIT_SCHEMES)}, got "{url}"')
    path = r.string(git, "path", f"{p}.path")
    if path.startswith("/") or ".." in path.split("/"):
        r.error(f"{p}.path", f'must be a path inside the repository (relative, no ".."), got "{path}"')
    branch = r.string(git, "branch", f"{p}.branch", default="main")
    if not branch.strip():
        r.error(f"{p}.branch", "must not be empty")
    secret = r.obj(git, "secretRef", f"{p}.secretRef")
    secret_name = r.string(secret, "name", f"{p}.secretRef.name") if secret else ""
    return GitSource(
        url=url,
        path=path,
        branch=branch,
        container=r.string(git, "container", f"{p}.container", default=""),
        values_key=r.string(git, "valuesKey", f"{p}.valuesKey", default=""),
        interval=r.duration(git, "interval", f"{p}.interval", 30.0, minimum=1.0),
        secret_ref=secret_name,
    )


def _provider(r: _Reader, spec: Mapping[str, object], default_provider: str | None) -> str:
    known = ", ".join(PROVIDERS)
    raw = spec.get("provider")
    if raw is None:
        if default_provider is None:
            r.error("spec.provider", f"required (known: {known})")
            return ""
        raw = default_provider
    if not isinstance(raw, str):
        r.error("spec.provider", f"must be a string, got {_kind(raw)}")
        return ""
    if raw not in PROVIDERS:
        r.error("spec.provider", f'unknown provider "{raw}" (known: {known})')
        return ""
    return raw


def _service(r: _Reader, spec: Mapping[str, object], provider: str) -> ServiceSpec:
    raw = r.obj(spec, "service", "spec.service", required=True)
    if not raw:
        return ServiceSpec(port=0, target_port=0)
    p = "spec.service"
    port = r.integer(raw, "port", f"{p}.port", None, lo=1, hi=65535)
    if port is None and "port" not in raw:
        r.error(f"{p}.port", "required")
    target_port: int | str = port or 0
    tp = raw.get("targetPort")
    if tp is not None:
        if isinstance(tp, bool) or not isinstance(tp, int | str):
            r.error(f"{p}.targetPort", f"must be a port number or a port name, got {_kind(tp)}")
        elif isinstance(tp, int) and not 1 <= tp <= 65535:
            r.error(f"{p}.targetPort", f"must be 1..65535, got {tp}")
        else:
            target_port = tp
    refs: list[ObjectRef] = []
    for i, item in enumerate(r.lst(raw, "gatewayRefs", f"{p}.gatewayRefs")):
        ip = f"{p}.gatewayRefs[{i}]"
        if not isinstance(item, Mapping):
            r.error(ip, f"must be an object, got {_kind(item)}")
            continue
        ref_name = r.string(item, "name", f"{ip}.name")
        refs.append(ObjectRef(ref_name, r.string(item, "namespace", f"{ip}.namespace", "")))
    if provider == "gatewayapi" and not refs:
        r.error(f"{p}.gatewayRefs", "required with provider gatewayapi (Gateways the HTTPRoute attaches to)")
    return ServiceSpec(
        port=port or 0,
        target_port=target_port,
        name=r.string(raw, "name", f"{p}.name", default=""),
        port_name=r.string(raw, "portName", f"{p}.portName", default="http"),
        gateway_refs=tuple(refs),
        hosts=tuple(_strings(r, raw, "hosts", f"{p}.hosts")),
        gateways=tuple(_strings(r, raw, "gateways", f"{p}.gateways")),
    )


def _strings(r: _Reader, parent: Mapping[str, object], key: str, path: str) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(r.lst(parent, key, path)):
        if not isinstance(item, str):
            r.error(f"{path}[{i}]", f"must be a string, got {_kind(item)}")
            continue
        out.append(item)
    return out


def _analysis(r: _Reader, spec: Mapping[str, object], provider: str) -> AnalysisSpec:
    raw = r.obj(spec, "analysis", "spec.analysis", required=True)
    p = "spec.analysis"
    interval = r.duration(raw, "interval", f"{p}.interval", 60.0, minimum=1.0)
    threshold = r.integer(raw, "threshold", f"{p}.threshold", 1, lo=1) or 1
    step_weight = r.integer(raw, "stepWeight", f"{p}.stepWeight", None, lo=1, hi=100)
    step_weights = _step_weights(r, raw, f"{p}.stepWeights")
    max_weight_raw = r.integer(raw, "maxWeight", f"{p}.maxWeight", None, lo=1, hi=100)
    iterations = r.integer(raw, "iterations", f"{p}.iterations", 0, lo=0) or 0
    match = _match(r, raw, f"{p}.match")
    min_requests = r.integer(raw, "minRequests", f"{p}.minRequests", 0, lo=0) or 0
    inconclusive_limit = r.integer(raw, "inconclusiveLimit", f"{p}.inconclusiveLimit", 10, lo=1) or 10

    has_weights = step_weight is not None or bool(step_weights) or "stepWeight" in raw or "stepWeights" in raw
    if "stepWeight" in raw and "stepWeights" in raw:
        r.error(f"{p}.stepWeights", "stepWeight and stepWeights are mutually exclusive; set one")
    max_weight = 100
    if step_weights:
        max_weight = step_weights[-1]
        if max_weight_raw is not None and max_weight_raw != step_weights[-1]:
            r.error(
                f"{p}.maxWeight",
                f"with stepWeights the last step ({step_weights[-1]}) is the maximum; "
                f"remove maxWeight or set it to {step_weights[-1]}, got {max_weight_raw}",
            )
    elif max_weight_raw is not None:
        max_weight = max_weight_raw
    if step_weight is not None and step_weight > max_weight:
        r.error(f"{p}.stepWeight", f"must not exceed maxWeight ({max_weight}), got {step_weight}")

    if match:
        if provider and provider not in MATCH_PROVIDERS:
            r.error(
                f"{p}.match",
                "A/B matches need a provider that routes by header or cookie "
                f'({", ".join(MATCH_PROVIDERS)}), got "{provider}"',
            )
        if iterations == 0:
            r.error(f"{p}.iterations", "A/B testing (match) counts iterations; set iterations > 0")
        if has_weights:
            r.error(f"{p}.match", "A/B testing routes by match, not by weight; remove stepWeight/stepWeights")
    elif iterations > 0 and has_weights:
        r.error(
            f"{p}.iterations",
            "iterations select blue/green (or A/B with match); "
            "they cannot be combined with stepWeight/stepWeights",
        )
    elif iterations == 0 and not has_weights and raw:
        r.error(
            p,
            "set stepWeight or stepWeights (canary), iterations (blue/green), or match with iterations (A/B)",
        )
    if provider == "kubernetes" and (has_weights or match):
        where = "stepWeights" if "stepWeights" in raw else "stepWeight" if has_weights else "match"
        r.error(
            f"{p}.{where}",
            "provider kubernetes switches Services (blue/green only): "
            "use iterations, without weights or match",
        )

    metrics = _metrics(r, raw, f"{p}.metrics", interval)
    webhooks = _webhooks(r, raw, f"{p}.webhooks")
    return AnalysisSpec(
        interval=interval,
        threshold=threshold,
        step_weight=step_weight,
        step_weights=tuple(step_weights),
        max_weight=max_weight,
        iterations=iterations,
        match=tuple(match),
        min_requests=min_requests,
        inconclusive_limit=inconclusive_limit,
        metrics=tuple(metrics),
        webhooks=tuple(webhooks),
    )


def _step_weights(r: _Reader, raw: Mapping[str, object], path: str) -> list[int]:
    items = r.lst(raw, "stepWeights", path)
    if "stepWeights" in raw and isinstance(raw.get("stepWeights"), list) and not items:
        r.error(path, "must not be empty")
    out: list[int] = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int):
            r.error(f"{path}[{i}]", f"must be an integer, got {_kind(item)}")
            return []
        if not 1 <= item <= 100:
            r.error(f"{path}[{i}]", f"must be 1..100, got {item}")
            return []
        if out and item <= out[-1]:
            r.error(f"{path}[{i}]", f"must be greater than the previous step ({out[-1]}), got {item}")
            return []
        out.append(item)
    return out


def _match(r: _Reader, raw: Mapping[str, object], path: str) -> list[Mapping[str, object]]:
    out: list[Mapping[str, object]] = []
    for i, item in enumerate(r.lst(raw, "match", path)):
        if not isinstance(item, Mapping) or not item:
            r.error(f"{path}[{i}]", "must be a non-empty object (headers, cookies, queryParams, ...)")
            continue
        out.append(dict(item))
    return out


def _metrics(r: _Reader, raw: Mapping[str, object], path: str, interval: float) -> list[MetricSpec]:
    out: list[MetricSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(r.lst(raw, "metrics", path)):
        ip = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            r.error(ip, f"must be an object, got {_kind(item)}")
            continue
        name = r.string(item, "name", f"{ip}.name")
        if name in seen:
            r.error(f"{ip}.name", f'duplicate metric name "{name}"')
        seen.add(name)
        ref_raw = r.obj(item, "templateRef", f"{ip}.templateRef")
        ref: ObjectRef | None = None
        if ref_raw:
            ref = ObjectRef(
                r.string(ref_raw, "name", f"{ip}.templateRef.name"),
                r.string(ref_raw, "namespace", f"{ip}.templateRef.namespace", ""),
            )
        elif name and name not in BUILTIN_METRICS:
            r.error(
                f"{ip}.templateRef",
                f'required: "{name}" is not a built-in metric ({", ".join(BUILTIN_METRICS)})',
            )
        range_raw = r.obj(item, "thresholdRange", f"{ip}.thresholdRange", required=True)
        lo = r.number(range_raw, "min", f"{ip}.thresholdRange.min")
        hi = r.number(range_raw, "max", f"{ip}.thresholdRange.max")
        given = [k for k in ("min", "max") if range_raw.get(k) is not None]
        if isinstance(item.get("thresholdRange"), Mapping) and not given:
            r.error(f"{ip}.thresholdRange", "needs min or max")
        if lo is not None and hi is not None and lo > hi:
            r.error(f"{ip}.thresholdRange", f"min ({lo:g}) is greater than max ({hi:g})")
        variables = r.str_map(item, "templateVariables", f"{ip}.templateVariables")
        if variables and ref is None:
            r.error(f"{ip}.templateVariables", "only meaningful with templateRef")
        out.append(
            MetricSpec(
                name=name,
                threshold_range=Range(min=lo, max=hi),
                interval=r.duration(item, "interval", f"{ip}.interval", max(interval, 60.0), minimum=1.0),
                template_ref=ref,
                template_variables=variables,
            )
        )
    return out


def _webhooks(r: _Reader, raw: Mapping[str, object], path: str) -> list[WebhookSpec]:
    out: list[WebhookSpec] = []
    seen: set[str] = set()
    known = ", ".join(t.value for t in WebhookType)
    for i, item in enumerate(r.lst(raw, "webhooks", path)):
        ip = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            r.error(ip, f"must be an object, got {_kind(item)}")
            continue
        name = r.string(item, "name", f"{ip}.name")
        if name in seen:
            r.error(f"{ip}.name", f'duplicate webhook name "{name}"')
        seen.add(name)
        type_raw = r.string(item, "type", f"{ip}.type", default="rollout")
        try:
            kind = WebhookType(type_raw)
        except ValueError:
            r.error(f"{ip}.type", f'unknown webhook type "{type_raw}" (known: {known})')
            kind = WebhookType.ROLLOUT
        url = r.string(item, "url", f"{ip}.url")
        if url and not url.startswith(("http://", "https://")):
            r.error(f"{ip}.url", f'must be an http:// or https:// URL, got "{url}"')
        out.append(
            WebhookSpec(
                name=name,
                type=kind,
                url=url,
                timeout=r.duration(item, "timeout", f"{ip}.timeout", 10.0, minimum=0.001),
                retries=r.integer(item, "retries", f"{ip}.retries", 0, lo=0, hi=10) or 0,
                metadata=r.str_map(item, "metadata", f"{ip}.metadata"),
            )
        )
    return out


def _rollback(r: _Reader, spec: Mapping[str, object]) -> RollbackSpec:
    raw = r.obj(spec, "rollback", "spec.rollback")
    value = r.string(raw, "git", "spec.rollback.git", default="revert")
    try:
        return RollbackSpec(git=RollbackGit(value))
    except ValueError:
        r.error("spec.rollback.git", f'must be "revert" or "none", got "{value}"')
        return RollbackSpec()
