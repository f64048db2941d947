"""Deployments as local processes: pure planning (:mod:`.plan`) and the process runner (:mod:`.runner`).

The emulator glue drives it level-triggered::

    runner = WorkloadRunner(workdir)                      # image table: sandbox/images.yaml
    states = runner.reconcile_deployment(deployment)      # call on every watch event and on a short timer
    # -> write Pods from `states` (name, podIP, ready, restarts, reason) and Deployment status
    #    (deployment_status(...)), and publish ready replicas as endpoints
    runner.remove("shop/podinfo")                         # Deployment deleted
    runner.stop_all()                                     # sandbox down
"""

from sandbox.workloads.plan import (
    ContainerPlan,
    DesiredWorkload,
    WorkloadSpecError,
    plan_rollout,
    pod_template_hash,
    workload_from_deployment,
)
from sandbox.workloads.runner import WorkloadRunner
from sandbox.workloads.state import ContainerState, ReplicaState
from sandbox.workloads.status import deployment_status

__all__ = [
    "ContainerPlan",
    "ContainerState",
    "DesiredWorkload",
    "ReplicaState",
    "WorkloadRunner",
    "WorkloadSpecError",
    "deployment_status",
    "plan_rollout",
    "pod_template_hash",
    "workload_from_deployment",
]
