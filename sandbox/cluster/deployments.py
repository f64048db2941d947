"""The Deployment controller and kubelet stand-in: Deployments become local processes and Pods.

:class:`DeploymentController` is level-triggered: on every Deployment event and on a short timer it
hands each Deployment to the :class:`~sandbox.workloads.WorkloadRunner` (which starts, probes,
restarts and rolls the processes), then makes the cluster tell the truth about them through the API,
as the Deployment controller and the kubelet do: one Pod per replica (created, its status written
through the ``status`` subresource, deleted when the replica is gone) and the Deployment's
``status`` (``observedGeneration``, replica counts, conditions). A Deployment that is deleted has its
processes stopped and its Pods deleted. Writes happen only when something changed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from sandbox.cluster.informer import Informer, object_key
from sandbox.cluster.passes import PassLoop
from sandbox.cluster.pods import iso, pod_manifest, pod_status
from sandbox.cluster.rest import RawApi, collection_path
from sandbox.workloads import (
    ReplicaState,
    WorkloadRunner,
    WorkloadSpecError,
    deployment_status,
    workload_from_deployment,
)

log = logging.getLogger(__name__)
_TIMES = ("lastUpdateTime", "lastTransitionTime")


@dataclass
class _PodRecord:
    """What was last written for one Pod, so unchanged status is not written again."""

    namespace: str
    status_json: str = ""
    transitions: dict[str, str] = field(default_factory=dict)


def _without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    conditions = [{k: v for k, v in c.items() if k not in _TIMES} for c in status.get("conditions") or []]
    return {**status, "conditions": conditions}


def merged_status(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` with the condition times of ``old`` kept where the condition did not change."""
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    conditions = []
    for condition in new.get("conditions") or []:
        before = previous.get(condition.get("type"))
        kept = dict(condition)
        if before is not None and before.get("status") == condition.get("status"):
            kept["lastTransitionTime"] = before.get("lastTransitionTime", condition.get("lastTransitionTime"))
            if before.get("reason") == condition.get("reason") and before.get("message") == condition.get(
                "message"
            ):
                kept["lastUpdateTime"] = before.get("lastUpdateTime", condition.get("lastUpdateTime"))
        conditions.append(kept)
    return {**new, "conditions": conditions}


class DeploymentController:
    """Runs every Deployment of the cluster as processes and writes Pods and status to match."""

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        runner: WorkloadRunner,
        deployments: Informer,
        pods: Informer,
        *,
        interval: float = 0.25,
        on_pods_written: Callable[[], None] = lambda: None,
        on_processes: Callable[[dict[str, list[int]]], None] = lambda _: None,
    ) -> None:
        self.rest = RawApi(api)
        self.runner = runner
        self.deployments = deployments
        self.pods = pods
        self.interval = interval
        self.on_pods_written = on_pods_written
        self.on_processes = on_processes
        self._records: dict[str, dict[str, _PodRecord]] = {}  # deployment key -> pod name -> record
        self._spec_errors: dict[str, str] = {}
        self._last_pids: dict[str, list[int]] = {}
        self._loop = PassLoop(
            "deployment-controller", self.reconcile_all, log, period=interval, join_timeout=10.0
        )

    def poke(self, *_: object) -> None:
        """Reconcile soon (a Deployment changed)."""
        self._loop.wake()

    def start(self) -> DeploymentController:
        """Reconcile in a daemon thread until :meth:`stop`."""
        self._loop.start()
        return self

    def stop(self) -> None:
        """Stop reconciling (processes keep running until the runner is stopped)."""
        self._loop.stop()

    # -- one pass -----------------------------------------------------------------------------------

    def reconcile_all(self) -> None:
        """One pass over every Deployment (and every workload whose Deployment is gone)."""
        wanted: dict[str, dict[str, Any]] = {}
        for deployment in self.deployments.items():
            namespace, name = object_key(deployment)
            if not (deployment.get("metadata") or {}).get("deletionTimestamp"):
                wanted[f"{namespace}/{name}"] = deployment
        for key, deployment in wanted.items():
            try:
                self._reconcile(key, deployment)
            except ApiException as exc:
                log.warning("writing %s: %s %s", key, exc.status, exc.reason)
        for key in (set(self.runner.keys()) | set(self._records)) - set(wanted):
            self.runner.remove(key)
            for name, record in self._records.pop(key, {}).items():
                self._delete_pod(record.namespace, name)
        self._report_processes()

    def _reconcile(self, key: str, deployment: dict[str, Any]) -> None:
        try:
            desired = workload_from_deployment(deployment, self.runner.config)
        except WorkloadSpecError as exc:
            if self._spec_errors.get(key) != str(exc):
                log.warning("Deployment %s cannot run: %s", key, exc)
                self._spec_errors[key] = str(exc)
            return
        self._spec_errors.pop(key, None)
        states = self.runner.reconcile(key, desired)
        now_iso = iso(time.time())
        records = self._records.setdefault(key, {})
        namespace = object_key(deployment)[0]
        wrote = False
        for state in states:
            record = records.get(state.pod_name)
            if record is None:
                created = self.rest.create(
                    collection_path("", "v1", "pods", namespace), pod_manifest(deployment, state)
                )
                self.pods.observe(created)
                record = records[state.pod_name] = _PodRecord(namespace)
                wrote = True
            try:
                wrote = self._write_pod_status(state, record, now_iso) or wrote
            except ApiException as exc:
                if exc.status != 404:
                    raise
                del records[state.pod_name]  # deleted by someone else: created again next pass
        for name in set(records) - {s.pod_name for s in states}:
            self._delete_pod(records.pop(name).namespace, name)
            wrote = True
        if wrote:
            self.on_pods_written()
        self._write_deployment_status(deployment, deployment_status(desired, states, now_iso))

    def _write_pod_status(self, state: ReplicaState, record: _PodRecord, now_iso: str) -> bool:
        status = pod_status(state, record.transitions, now_iso)
        body = json.dumps(status, sort_keys=True)
        if body == record.status_json:
            return False
        # merge patch: lists (conditions, containerStatuses) are replaced whole; absent keys cleared
        patch = {"status": {"reason": None, "message": None, **status}}
        path = collection_path("", "v1", "pods", record.namespace)
        self.pods.observe(self.rest.merge_patch(f"{path}/{state.pod_name}/status", patch))
        record.status_json = body
        record.transitions = {
            f"{c['type']}={c['status']}": c["lastTransitionTime"] for c in status["conditions"]
        }
        return True

    def _write_deployment_status(self, deployment: Mapping[str, Any], status: dict[str, Any]) -> None:
        current = deployment.get("status") or {}
        if _without_times(status) == _without_times(current):
            return
        namespace, name = object_key(deployment)
        body = {"status": merged_status(status, current)}
        try:
            path = collection_path("apps", "v1", "deployments", namespace)
            written = self.rest.merge_patch(f"{path}/{name}/status", body)
        except ApiException as exc:
            if exc.status == 404:
                return  # deleted meanwhile; the next pass stops its processes
            raise
        self.deployments.observe(written)

    def _delete_pod(self, namespace: str, name: str) -> None:
        try:
            self.rest.delete(
                f"{collection_path('', 'v1', 'pods', namespace)}/{name}", {"gracePeriodSeconds": 0}
            )
        except ApiException as exc:
            if exc.status != 404:
                log.warning("deleting Pod %s/%s: %s %s", namespace, name, exc.status, exc.reason)
        self.pods.observe(None, deleted_key=(namespace, name))

    def _report_processes(self) -> None:
        pids = {
            state.pod_name: list(state.pids)
            for key in self.runner.keys()  # noqa: SIM118 - a method of the runner, not a dict
            for state in self.runner.replicas(key)
            if state.pids
        }
        if pids != self._last_pids:
            self._last_pids = pids
            self.on_processes(pids)
