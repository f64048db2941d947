"""The process node: a small kubelet that runs the Pods bound to it as local processes.

With the real control plane (:mod:`sandbox.kubernetes`) the Deployment and ReplicaSet controllers
make the Pods, the scheduler binds them to node ``sandbox``, the EndpointSlice controller publishes
them; this package is the one piece left, the node. It is Pod-centric, as a kubelet is: it runs what
it is given and reports on it, and owns no workload. What it does:

- registers the Node ``sandbox`` (Ready, capacity/allocatable 8 cpu / 16Gi / 110 pods, an
  ``InternalIP``, ``nodeInfo`` with ``kubeletVersion`` v1.37.2), renews the Lease
  ``kube-node-lease/sandbox`` every 10 s and refreshes the Ready heartbeat every minute, so the node
  lifecycle controller never marks it NotReady; all of it as ``system:node:sandbox``, within what the
  Node authorizer and NodeRestriction allow a node;
- watches the Pods with ``spec.nodeName=sandbox`` and runs each container as a local process: the
  image's command from ``sandbox/images.yaml`` (:mod:`sandbox.config`; an unknown image is
  ``ErrImagePull``/``ImagePullBackOff``), listening on the Pod's own IP and its declared
  ``containerPort``, with ``env`` values and ``configMapKeyRef``/``secretKeyRef``/``fieldRef``
  references resolved;
- gives every Pod its own address from 198.18.0.0/15 (not 127.x: the API server refuses loopback
  addresses in EndpointSlices), added to ``lo`` while the Pod runs (:mod:`.addresses`);
- probes readiness over HTTP (the container's ``readinessProbe.httpGet``, else the image table's
  path), restarts exited containers per ``restartPolicy`` with a back-off (``CrashLoopBackOff``), and
  reports it all through ``pods/status`` as a kubelet does, writing only when something changed;
- on deletion stops the processes within the grace period (SIGTERM to the process group, SIGKILL
  after it) and deletes the Pod with ``gracePeriodSeconds=0`` and a ``uid`` precondition.

What it does not: pull or unpack images, mount volumes (the ServiceAccount token volume included),
run init or ephemeral containers, exec, attach, port-forward or serve logs (there is no kubelet API
port; container output is in ``WORKDIR/pods/<ns>_<pod>_<uid>/<container>.log``), enforce resources,
honour a container's ``command``/``args``, follow an image change of a running Pod, or run
liveness and startup probes.

Use it in-process::

    node = ProcessNode.from_kubeconfig(plane.kubeconfig_for("node"), workdir, on_processes=record)
    node.start()      # registered and watching when it returns
    ...
    node.stop()       # every process stopped, every address removed; Node and Pods stay in the API

and after a crash ``clean_up(workdir)`` stops the processes and removes the addresses a node in
``workdir`` left behind (``start`` does it too).
"""

from sandbox.node.addresses import AddressBook, AddressError, release_addresses
from sandbox.node.leftovers import clean_up
from sandbox.node.node import NODE_NAME, ProcessNode
from sandbox.node.registration import Capacity
from sandbox.node.restarts import BackOff

__all__ = [
    "NODE_NAME",
    "AddressBook",
    "AddressError",
    "BackOff",
    "Capacity",
    "ProcessNode",
    "clean_up",
    "release_addresses",
]
