"""The ``serinus`` commands people type: ``get canaries``, ``explain``, and the manual controls.

They talk to the API server through a small port, ``Catalog`` (list, get, annotate Canaries), so the
words they print are tested without a cluster; ``KubeCatalog`` is the real one over the ``kubernetes``
client (KUBECONFIG or ``--kubeconfig``). Manual controls are annotations ``serinus.dev/<action>: <token>``
with a fresh token each time: the controller consumes each token once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from controller.core.status import Phase, Status
from controller.kube.status import ANNOTATION_PREFIX, CONTROLS

GROUP, VERSION, PLURAL = "serinus.dev", "v1alpha1", "canaries"


class NoSuchCanary(LookupError):
    """The Canary does not exist."""


class BadReference(ValueError):
    """A canary reference is not ``NAMESPACE/NAME``."""


def parse_ref(ref: str) -> tuple[str, str]:
    """``NS/NAME`` -> ``(ns, name)``; ``BadReference`` otherwise."""
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise BadReference(f"expected NAMESPACE/NAME, got {ref!r}")
    return namespace, name


class Catalog(Protocol):
    """The Canaries as the CLI sees them."""

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        """Canaries in ``namespace`` (every namespace when None)."""
        ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One Canary, or None."""
        ...

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        """Set one annotation (merge patch); ``NoSuchCanary`` when it does not exist."""
        ...


class KubeCatalog:
    """`Catalog` over the ``kubernetes`` client."""

    def __init__(self, kubeconfig: str | None = None) -> None:
        from kubernetes import client as k8s

        from controller.kube.client import build_api_client

        self._k8s = k8s
        self._api: Any = k8s.CustomObjectsApi(build_api_client(kubeconfig))
        self._timeout = (5.0, 30.0)

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        """List through the API (one page is enough for a table people read)."""
        found: dict[str, Any]
        if namespace is None:
            found = self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL,
                                                         _request_timeout=self._timeout)
        else:
            found = self._api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                            _request_timeout=self._timeout)
        return list(found.get("items") or [])

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Get, None on 404."""
        try:
            obj: dict[str, Any] = self._api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=self._timeout)
        except self._k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def annotate(self, namespace: str, name: str, key: str, value: str) -> None:
        """Merge-patch ``metadata.annotations``."""
        try:
            self._api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"annotations": {key: value}}},
                _request_timeout=self._timeout, _content_type="application/merge-patch+json")
        except self._k8s.ApiException as exc:
            if exc.status == 404:
                raise NoSuchCanary(f"no Canary {namespace}/{name}") from exc
            raise


def current_namespace(kubeconfig: str | None = None) -> str:
    """The namespace of the kubeconfig's current context, else ``default``."""
    from kubernetes import config as k8s_config

    try:
        _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError):
        return "default"
    return str(((active or {}).get("context") or {}).get("namespace") or "default")


# ---------------------------------------------------------------------------------------------
# get canaries


def age(moment: datetime | None, now: datetime) -> str:
    """kubectl's short age: ``42s``, ``5m``, ``3h``, ``2d`` (``<unknown>`` when not set)."""
    if moment is None:
        return "<unknown>"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(canaries: Iterable[Mapping[str, Any]], all_namespaces: bool, now: datetime) -> str:
    """The table ``serinus get canaries`` prints (kubectl's layout, columns padded by 3 spaces)."""
    header = ["NAME", "STATUS", "WEIGHT", "IMAGE", "LASTTRANSITION"]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    rows = [header]
    for obj in sorted(canaries, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
        status = Status.from_dict(obj.get("status") or {})
        raw = obj.get("status") or {}
        current = status.current_revision or status.last_promoted_revision
        row = [
            str(obj["metadata"]["name"]),
            str(raw.get("phase") or "-"),
            str(status.canary_weight),
            current.image if current is not None else "-",
            age(status.last_transition_time, now) if raw.get("lastTransitionTime") else "-",
        ]
        if all_namespaces:
            row.insert(0, str(obj["metadata"].get("namespace", "")))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows) + "\n"


# ---------------------------------------------------------------------------------------------
# explain


def _value(value: object) -> str:
    return "no value" if value is None else f"{value:g}" if isinstance(value, float | int) else str(value)


def _range(raw: Mapping[str, Any]) -> str:
    lo, hi = raw.get("min"), raw.get("max")
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    if lo is not None:
        return f"at least {lo:g}"
    if hi is not None:
        return f"at most {hi:g}"
    return "any value"


def describe_check(check: Mapping[str, Any]) -> str:
    """One check record in words: what was measured, against what, and what it means."""
    metric = str(check.get("metric", "?"))
    verdict = str(check.get("verdict", "?"))
    value = check.get("value")
    accepted = _range(check.get("range") or {})
    message = str(check.get("message") or "")
    if metric.startswith("webhook/"):
        hook = metric.removeprefix("webhook/")
        if verdict == "PASS":
            return f"{check.get('query', 'webhook')} webhook {hook} answered 2xx"
        return f"{check.get('query', 'webhook')} webhook {hook} failed" + (f": {message}" if message else "")
    if verdict == "PASS":
        return f"{metric} was {_value(value)}, within the accepted range ({accepted}): passed"
    if verdict == "FAIL":
        return f"{metric} was {_value(value)}, outside the accepted range ({accepted}): counts as a failure"
    if verdict == "INCONCLUSIVE":
        why = f" ({message})" if message else ""
        return (f"{metric} had no usable data{why}: the weight is held; missing data is never "
                "counted as a failure")
    why = f" ({message})" if message else ""
    return f"{metric} could not be queried{why}: the weight is held; this never causes a rollback"


_PHASE_WORDS: dict[str, str] = {
    Phase.INITIALIZING: "creating the primary from what Git declares",
    Phase.INITIALIZED: "at rest: the primary serves all traffic",
    Phase.WAITING: "waiting for the confirm-rollout gate or for traffic to leave the target",
    Phase.PROGRESSING: "analysing the new revision step by step",
    Phase.PAUSED: "paused after too many inconclusive checks; `serinus retry` or a new commit resumes it",
    Phase.WAITING_PROMOTION: "waiting for the confirm-promotion gate",
    Phase.PROMOTING: "copying the new revision into the primary",
    Phase.FINALISING: "routing all traffic back to the promoted primary",
    Phase.SUCCEEDED: "the new revision was promoted",
    Phase.FAILED: "the new revision failed and was rolled back",
    Phase.TERMINATING: "the Canary is being deleted",
    Phase.TERMINATED: "the Canary is deleted",
}


def explain(obj: Mapping[str, Any], now: datetime) -> str:
    """The story of one Canary in words: where it is, why, and each recent check."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    raw = obj.get("status") or {}
    status = Status.from_dict(raw)
    analysis = spec.get("analysis") or {}
    lines = [f"Canary {meta.get('namespace')}/{meta.get('name')}"]
    phase = str(raw.get("phase") or "")
    if not phase:
        lines.append("  Phase:     not seen by the controller yet (is `serinus run` running?)")
    else:
        since = f" for {age(status.last_transition_time, now)}" if status.last_transition_time else ""
        lines.append(f"  Phase:     {phase}{since}: {_PHASE_WORDS.get(phase, '')}")
    for label, rev in (("Revision", status.current_revision), ("Promoted", status.last_promoted_revision)):
        if rev is not None:
            lines.append(f"  {label}:  {rev.image} (commit {rev.commit[:7] or '?'})")
    weight = status.canary_weight
    lines.append(f"  Weight:    {weight}% to the canary, {100 - weight}% to the primary")
    threshold = analysis.get("threshold", 1)
    limit = analysis.get("inconclusiveLimit", 10)
    lines.append(f"  Checks:    {status.failed_checks} failed of {threshold} tolerated before rollback; "
                 f"{status.inconclusive_checks} inconclusive in a row of {limit} before pausing")
    if status.revert_commit:
        lines.append(f"  Git:       reverted in commit {status.revert_commit[:12]}")
    if status.pending_revert is not None:
        lines.append(f"  Git:       revert to {status.pending_revert.to_revision.image} not confirmed yet")
    for image in status.quarantined_images:
        lines.append(f"  Quarantine: {image} failed before; `serinus retry` runs it again")
    for cond in status.conditions:
        if cond.message:
            lines.append(f"  {cond.type}: {cond.status} ({cond.reason}): {cond.message}")
    checks = list(raw.get("checks") or [])
    if checks:
        lines.append("Recent checks (oldest first):")
        for check in checks:
            verdict = str(check.get("verdict", "?"))
            lines.append(f"  {check.get('time', '')}  {verdict:<12} {describe_check(check)}")
            if check.get("query") and not str(check.get("metric", "")).startswith("webhook/"):
                lines.append(f"      query: {' '.join(str(check['query']).split())}")
    else:
        lines.append("No checks recorded in this run yet.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# manual controls


def new_token() -> str:
    """A fresh, unique token: the controller acts on each token once."""
    return f"{int(time.time())}-{secrets.token_hex(4)}"


def request_control(catalog: Catalog, namespace: str, name: str, action: str,
                    token: str | None = None) -> str:
    """Set ``serinus.dev/<action>`` to a fresh token; returns the token. ``NoSuchCanary`` if absent."""
    if action not in CONTROLS:
        raise ValueError(f"unknown control {action!r}; known: {', '.join(CONTROLS)}")
    if catalog.get(namespace, name) is None:
        raise NoSuchCanary(f"no Canary {namespace}/{name}")
    token = token or new_token()
    catalog.annotate(namespace, name, ANNOTATION_PREFIX + action, token)
    return token


def now_utc() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def print_lines(out: TextIO, lines: Sequence[str]) -> None:
    """Write lines to ``out``."""
    for line in lines:
        out.write(line + "\n")
