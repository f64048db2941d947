"""Read the protobuf request bodies that kubectl and client-go send (`application/vnd.kubernetes.protobuf`).

kubectl 1.32 and later sends typed creates (`kubectl create namespace|configmap|secret|deployment|
service|serviceaccount ...`) as protobuf. A body is the 4-byte magic `k8s\\x00` followed by a
`runtime.Unknown` message: field 1 is a TypeMeta (apiVersion=1, kind=2), field 2 the raw bytes of the
typed message (e.g. `k8s.io.api.core.v1.Namespace`), field 3 a content encoding, field 4 a content type.

`decode_body` turns such a body into the object the same client would have sent as JSON: Go's
`encoding/json` rules are mirrored so the emulator can treat both bodies alike. Non-pointer Go fields
are always on the wire in protobuf (empty or zero), pointer fields only when set; so a scalar is kept
when it is non-zero, or, for fields marked `always` (Go pointers and fields without `omitempty`),
whenever it is on the wire. Nested messages are kept when present, even empty (`"spec": {}`), as Go
does for structs. Zero timestamps (which Go writes as `null` or omits) are left out.

The message definitions are a declarative table (`MESSAGES`, from the `generated.proto` files of
kubernetes/api and apimachinery) and the kinds a table (`KINDS`): adding a kind is adding rows. A field
missing from the table is tolerated only when it holds its zero value; otherwise the body is refused
rather than silently losing data, so a newer client's new field is noticed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _LEN, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_WIRE_NAMES = {
    0: "varint",
    1: "fixed64",
    2: "length-delimited",
    3: "start-group",
    4: "end-group",
    5: "fixed32",
}


class UnsupportedProtobuf(ValueError):
    """A protobuf body the emulator cannot read; the message says what and why (answer 415)."""


class NotProtobuf(UnsupportedProtobuf):
    """A body sent as protobuf that does not start with the magic prefix: the real server answers 400
    BadRequest (its decoder's error), not 415."""


def is_protobuf(content_type: str) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding (parameters ignored)."""
    return content_type.split(";", 1)[0].strip().lower() == PROTOBUF_MEDIA_TYPE


class T(Enum):
    """How a field's wire value becomes JSON."""

    STRING = "string"
    BYTES = "bytes"  # base64 in JSON, as Go's []byte
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"
    MESSAGE = "message"
    INLINE = "inline"  # an embedded Go struct (`json:",inline"`): its fields join the parent's
    MAP = "map"  # repeated entries {key=1, value=2}
    TIME = "time"  # meta/v1 Time {seconds=1, nanos=2} -> RFC 3339, whole seconds
    MICROTIME = "microtime"  # meta/v1 MicroTime -> RFC 3339 with microseconds
    INT_OR_STRING = "intorstring"  # util/intstr IntOrString {type=1, intVal=2, strVal=3}
    QUANTITY = "quantity"  # api/resource Quantity {string=1} -> its string
    FIELDS_V1 = "fieldsv1"  # meta/v1 FieldsV1 {Raw=1}: raw JSON


_SCALARS = {T.INT32, T.INT64, T.BOOL}


@dataclass(frozen=True)
class Field:
    """One field of a message: its JSON name and how to read it."""

    name: str
    type: T
    repeated: bool = False
    message: str = ""  # for MESSAGE and INLINE; for MAP, the value's message when `value` is MESSAGE
    value: T | None = None  # for MAP: the value type (keys are always strings)
    always: bool = False  # keep even a zero value when on the wire (Go pointer, or no omitempty)


# Row builders, so the tables below read like the .proto files.
def _s(name: str, *, always: bool = False) -> Field:
    return Field(name, T.STRING, always=always)


def _i32(name: str, *, always: bool = False) -> Field:
    return Field(name, T.INT32, always=always)


def _i64(name: str, *, always: bool = False) -> Field:
    return Field(name, T.INT64, always=always)


def _flag(name: str, *, always: bool = False) -> Field:
    return Field(name, T.BOOL, always=always)


def _msg(name: str, message: str) -> Field:
    return Field(name, T.MESSAGE, message=message)


def _msgs(name: str, message: str) -> Field:
    return Field(name, T.MESSAGE, repeated=True, message=message)


def _strs(name: str) -> Field:
    return Field(name, T.STRING, repeated=True)


def _ints64(name: str) -> Field:
    return Field(name, T.INT64, repeated=True)


def _smap(name: str) -> Field:
    return Field(name, T.MAP, value=T.STRING)


def _bmap(name: str) -> Field:
    return Field(name, T.MAP, value=T.BYTES)


def _qmap(name: str) -> Field:
    return Field(name, T.MAP, value=T.QUANTITY)


def _inline(message: str) -> Field:
    return Field("", T.INLINE, message=message)


def _time(name: str) -> Field:
    return Field(name, T.TIME)


def _mtime(name: str) -> Field:
    return Field(name, T.MICROTIME)


def _ios(name: str, *, always: bool = False) -> Field:
    return Field(name, T.INT_OR_STRING, always=always)


def _qty(name: str) -> Field:
    return Field(name, T.QUANTITY)


Schema = dict[int, Field]

_OBJECT_REFERENCE: Schema = {
    1: _s("kind"),
    2: _s("namespace"),
    3: _s("name"),
    4: _s("uid"),
    5: _s("apiVersion"),
    6: _s("resourceVersion"),
    7: _s("fieldPath"),
}

MESSAGES: dict[str, Schema] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "meta.v1.ObjectMeta": {
        1: _s("name"),
        2: _s("generateName"),
        3: _s("namespace"),
        4: _s("selfLink"),
        5: _s("uid"),
        6: _s("resourceVersion"),
        7: _i64("generation"),
        8: _time("creationTimestamp"),
        9: _time("deletionTimestamp"),
        10: _i64("deletionGracePeriodSeconds", always=True),
        11: _smap("labels"),
        12: _smap("annotations"),
        13: _msgs("ownerReferences", "meta.v1.OwnerReference"),
        14: _strs("finalizers"),
        17: _msgs("managedFields", "meta.v1.ManagedFieldsEntry"),
    },
    "meta.v1.OwnerReference": {
        5: _s("apiVersion", always=True),
        1: _s("kind", always=True),
        3: _s("name", always=True),
        4: _s("uid", always=True),
        6: _flag("controller", always=True),
        7: _flag("blockOwnerDeletion", always=True),
    },
    "meta.v1.ManagedFieldsEntry": {
        1: _s("manager"),
        2: _s("operation"),
        3: _s("apiVersion"),
        4: _time("time"),
        6: _s("fieldsType"),
        7: Field("fieldsV1", T.FIELDS_V1),
        8: _s("subresource"),
    },
    "meta.v1.LabelSelector": {
        1: _smap("matchLabels"),
        2: _msgs("matchExpressions", "meta.v1.LabelSelectorRequirement"),
    },
    "meta.v1.LabelSelectorRequirement": {
        1: _s("key", always=True),
        2: _s("operator", always=True),
        3: _strs("values"),
    },
    "meta.v1.Condition": {
        1: _s("type", always=True),
        2: _s("status", always=True),
        3: _i64("observedGeneration"),
        4: _time("lastTransitionTime"),
        5: _s("reason", always=True),
        6: _s("message", always=True),
    },
    # k8s.io/api/core/v1
    "core.v1.Namespace": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "core.v1.NamespaceSpec"),
        3: _msg("status", "core.v1.NamespaceStatus"),
    },
    "core.v1.NamespaceSpec": {1: _strs("finalizers")},
    "core.v1.NamespaceStatus": {1: _s("phase"), 2: _msgs("conditions", "core.v1.NamespaceCondition")},
    "core.v1.NamespaceCondition": {
        1: _s("type", always=True),
        2: _s("status", always=True),
        4: _time("lastTransitionTime"),
        5: _s("reason"),
        6: _s("message"),
    },
    "core.v1.ConfigMap": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        4: _flag("immutable", always=True),
        2: _smap("data"),
        3: _bmap("binaryData"),
    },
    "core.v1.Secret": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        5: _flag("immutable", always=True),
        2: _bmap("data"),
        4: _smap("stringData"),
        3: _s("type"),
    },
    "core.v1.ServiceAccount": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msgs("secrets", "core.v1.ObjectReference"),
        3: _msgs("imagePullSecrets", "core.v1.LocalObjectReference"),
        4: _flag("automountServiceAccountToken", always=True),
    },
    "core.v1.ObjectReference": _OBJECT_REFERENCE,
    "core.v1.LocalObjectReference": {1: _s("name")},
    "core.v1.Service": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "core.v1.ServiceSpec"),
        3: _msg("status", "core.v1.ServiceStatus"),
    },
    "core.v1.ServiceSpec": {
        1: _msgs("ports", "core.v1.ServicePort"),
        2: _smap("selector"),
        3: _s("clusterIP"),
        18: _strs("clusterIPs"),
        4: _s("type"),
        5: _strs("externalIPs"),
        7: _s("sessionAffinity"),
        8: _s("loadBalancerIP"),
        9: _strs("loadBalancerSourceRanges"),
        10: _s("externalName"),
        11: _s("externalTrafficPolicy"),
        12: _i32("healthCheckNodePort"),
        13: _flag("publishNotReadyAddresses"),
        14: _msg("sessionAffinityConfig", "core.v1.SessionAffinityConfig"),
        19: _strs("ipFamilies"),
        17: _s("ipFamilyPolicy", always=True),
        20: _flag("allocateLoadBalancerNodePorts", always=True),
        21: _s("loadBalancerClass", always=True),
        22: _s("internalTrafficPolicy", always=True),
        23: _s("trafficDistribution", always=True),
    },
    "core.v1.ServicePort": {
        1: _s("name"),
        2: _s("protocol"),
        6: _s("appProtocol", always=True),
        3: _i32("port", always=True),
        4: _ios("targetPort"),
        5: _i32("nodePort"),
    },
    "core.v1.SessionAffinityConfig": {1: _msg("clientIP", "core.v1.ClientIPConfig")},
    "core.v1.ClientIPConfig": {1: _i32("timeoutSeconds", always=True)},
    "core.v1.ServiceStatus": {
        1: _msg("loadBalancer", "core.v1.LoadBalancerStatus"),
        2: _msgs("conditions", "meta.v1.Condition"),
    },
    "core.v1.LoadBalancerStatus": {1: _msgs("ingress", "core.v1.LoadBalancerIngress")},
    "core.v1.LoadBalancerIngress": {
        1: _s("ip"),
        2: _s("hostname"),
        3: _s("ipMode", always=True),
        4: _msgs("ports", "core.v1.PortStatus"),
    },
    "core.v1.PortStatus": {
        1: _i32("port", always=True),
        2: _s("protocol", always=True),
        3: _s("error", always=True),
    },
    "core.v1.Event": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("involvedObject", "core.v1.ObjectReference"),
        3: _s("reason"),
        4: _s("message"),
        5: _msg("source", "core.v1.EventSource"),
        6: _time("firstTimestamp"),
        7: _time("lastTimestamp"),
        8: _i32("count"),
        9: _s("type"),
        10: _mtime("eventTime"),
        11: _msg("series", "core.v1.EventSeries"),
        12: _s("action"),
        13: _msg("related", "core.v1.ObjectReference"),
        14: _s("reportingComponent", always=True),
        15: _s("reportingInstance", always=True),
    },
    "core.v1.EventSource": {1: _s("component"), 2: _s("host")},
    "core.v1.EventSeries": {1: _i32("count"), 2: _mtime("lastObservedTime")},
    "core.v1.Pod": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "core.v1.PodSpec"),
        3: _msg("status", "core.v1.PodStatus"),
    },
    "core.v1.PodTemplateSpec": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "core.v1.PodSpec"),
    },
    "core.v1.PodSpec": {
        1: _msgs("volumes", "core.v1.Volume"),
        20: _msgs("initContainers", "core.v1.Container"),
        2: _msgs("containers", "core.v1.Container"),
        3: _s("restartPolicy"),
        4: _i64("terminationGracePeriodSeconds", always=True),
        5: _i64("activeDeadlineSeconds", always=True),
        6: _s("dnsPolicy"),
        7: _smap("nodeSelector"),
        8: _s("serviceAccountName"),
        9: _s("serviceAccount"),
        21: _flag("automountServiceAccountToken", always=True),
        10: _s("nodeName"),
        11: _flag("hostNetwork"),
        12: _flag("hostPID"),
        13: _flag("hostIPC"),
        27: _flag("shareProcessNamespace", always=True),
        14: _msg("securityContext", "core.v1.PodSecurityContext"),
        15: _msgs("imagePullSecrets", "core.v1.LocalObjectReference"),
        16: _s("hostname"),
        17: _s("subdomain"),
        19: _s("schedulerName"),
        22: _msgs("tolerations", "core.v1.Toleration"),
        23: _msgs("hostAliases", "core.v1.HostAlias"),
        24: _s("priorityClassName"),
        25: _i32("priority", always=True),
        28: _msgs("readinessGates", "core.v1.PodReadinessGate"),
        29: _s("runtimeClassName", always=True),
        30: _flag("enableServiceLinks", always=True),
        31: _s("preemptionPolicy", always=True),
        32: _qmap("overhead"),
        35: _flag("setHostnameAsFQDN", always=True),
    },
    "core.v1.PodSecurityContext": {
        2: _i64("runAsUser", always=True),
        6: _i64("runAsGroup", always=True),
        3: _flag("runAsNonRoot", always=True),
        4: _ints64("supplementalGroups"),
        5: _i64("fsGroup", always=True),
        7: _msgs("sysctls", "core.v1.Sysctl"),
        9: _s("fsGroupChangePolicy", always=True),
        10: _msg("seccompProfile", "core.v1.SeccompProfile"),
    },
    "core.v1.Sysctl": {1: _s("name", always=True), 2: _s("value", always=True)},
    "core.v1.SeccompProfile": {1: _s("type", always=True), 2: _s("localhostProfile", always=True)},
    "core.v1.Toleration": {
        1: _s("key"),
        2: _s("operator"),
        3: _s("value"),
        4: _s("effect"),
        5: _i64("tolerationSeconds", always=True),
    },
    "core.v1.HostAlias": {1: _s("ip", always=True), 2: _strs("hostnames")},
    "core.v1.PodReadinessGate": {1: _s("conditionType", always=True)},
    "core.v1.Container": {
        1: _s("name", always=True),
        2: _s("image"),
        3: _strs("command"),
        4: _strs("args"),
        5: _s("workingDir"),
        6: _msgs("ports", "core.v1.ContainerPort"),
        19: _msgs("envFrom", "core.v1.EnvFromSource"),
        7: _msgs("env", "core.v1.EnvVar"),
        8: _msg("resources", "core.v1.ResourceRequirements"),
        9: _msgs("volumeMounts", "core.v1.VolumeMount"),
        10: _msg("livenessProbe", "core.v1.Probe"),
        11: _msg("readinessProbe", "core.v1.Probe"),
        22: _msg("startupProbe", "core.v1.Probe"),
        12: _msg("lifecycle", "core.v1.Lifecycle"),
        13: _s("terminationMessagePath"),
        20: _s("terminationMessagePolicy"),
        14: _s("imagePullPolicy"),
        15: _msg("securityContext", "core.v1.SecurityContext"),
        16: _flag("stdin"),
        17: _flag("stdinOnce"),
        18: _flag("tty"),
        24: _s("restartPolicy", always=True),
    },
    "core.v1.ContainerPort": {
        1: _s("name"),
        2: _i32("hostPort"),
        3: _i32("containerPort", always=True),
        4: _s("protocol"),
        5: _s("hostIP"),
    },
    "core.v1.EnvVar": {
        1: _s("name", always=True),
        2: _s("value"),
        3: _msg("valueFrom", "core.v1.EnvVarSource"),
    },
    "core.v1.EnvVarSource": {
        1: _msg("fieldRef", "core.v1.ObjectFieldSelector"),
        2: _msg("resourceFieldRef", "core.v1.ResourceFieldSelector"),
        3: _msg("configMapKeyRef", "core.v1.ConfigMapKeySelector"),
        4: _msg("secretKeyRef", "core.v1.SecretKeySelector"),
    },
    "core.v1.ObjectFieldSelector": {1: _s("apiVersion"), 2: _s("fieldPath", always=True)},
    "core.v1.ResourceFieldSelector": {
        1: _s("containerName"),
        2: _s("resource", always=True),
        3: _qty("divisor"),
    },
    "core.v1.ConfigMapKeySelector": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _s("key", always=True),
        3: _flag("optional", always=True),
    },
    "core.v1.SecretKeySelector": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _s("key", always=True),
        3: _flag("optional", always=True),
    },
    "core.v1.EnvFromSource": {
        1: _s("prefix"),
        2: _msg("configMapRef", "core.v1.ConfigMapEnvSource"),
        3: _msg("secretRef", "core.v1.SecretEnvSource"),
    },
    "core.v1.ConfigMapEnvSource": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _flag("optional", always=True),
    },
    "core.v1.SecretEnvSource": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _flag("optional", always=True),
    },
    "core.v1.ResourceRequirements": {1: _qmap("limits"), 2: _qmap("requests")},
    "core.v1.VolumeMount": {
        1: _s("name", always=True),
        2: _flag("readOnly"),
        7: _s("recursiveReadOnly", always=True),
        3: _s("mountPath", always=True),
        4: _s("subPath"),
        5: _s("mountPropagation", always=True),
        6: _s("subPathExpr"),
    },
    "core.v1.Probe": {
        1: _inline("core.v1.ProbeHandler"),
        2: _i32("initialDelaySeconds"),
        3: _i32("timeoutSeconds"),
        4: _i32("periodSeconds"),
        5: _i32("successThreshold"),
        6: _i32("failureThreshold"),
        7: _i64("terminationGracePeriodSeconds", always=True),
    },
    "core.v1.ProbeHandler": {
        1: _msg("exec", "core.v1.ExecAction"),
        2: _msg("httpGet", "core.v1.HTTPGetAction"),
        3: _msg("tcpSocket", "core.v1.TCPSocketAction"),
        4: _msg("grpc", "core.v1.GRPCAction"),
    },
    "core.v1.LifecycleHandler": {
        1: _msg("exec", "core.v1.ExecAction"),
        2: _msg("httpGet", "core.v1.HTTPGetAction"),
        3: _msg("tcpSocket", "core.v1.TCPSocketAction"),
        4: _msg("sleep", "core.v1.SleepAction"),
    },
    "core.v1.Lifecycle": {
        1: _msg("postStart", "core.v1.LifecycleHandler"),
        2: _msg("preStop", "core.v1.LifecycleHandler"),
        3: _s("stopSignal", always=True),
    },
    "core.v1.ExecAction": {1: _strs("command")},
    "core.v1.HTTPGetAction": {
        1: _s("path"),
        2: _ios("port", always=True),
        3: _s("host"),
        4: _s("scheme"),
        5: _msgs("httpHeaders", "core.v1.HTTPHeader"),
    },
    "core.v1.HTTPHeader": {1: _s("name", always=True), 2: _s("value", always=True)},
    "core.v1.TCPSocketAction": {1: _ios("port", always=True), 2: _s("host")},
    "core.v1.GRPCAction": {1: _i32("port", always=True), 2: _s("service", always=True)},
    "core.v1.SleepAction": {1: _i64("seconds", always=True)},
    "core.v1.SecurityContext": {
        1: _msg("capabilities", "core.v1.Capabilities"),
        2: _flag("privileged", always=True),
        4: _i64("runAsUser", always=True),
        8: _i64("runAsGroup", always=True),
        5: _flag("runAsNonRoot", always=True),
        6: _flag("readOnlyRootFilesystem", always=True),
        7: _flag("allowPrivilegeEscalation", always=True),
        9: _s("procMount", always=True),
        11: _msg("seccompProfile", "core.v1.SeccompProfile"),
    },
    "core.v1.Capabilities": {1: _strs("add"), 2: _strs("drop")},
    "core.v1.Volume": {1: _s("name", always=True), 2: _inline("core.v1.VolumeSource")},
    "core.v1.VolumeSource": {
        1: _msg("hostPath", "core.v1.HostPathVolumeSource"),
        2: _msg("emptyDir", "core.v1.EmptyDirVolumeSource"),
        6: _msg("secret", "core.v1.SecretVolumeSource"),
        10: _msg("persistentVolumeClaim", "core.v1.PersistentVolumeClaimVolumeSource"),
        16: _msg("downwardAPI", "core.v1.DownwardAPIVolumeSource"),
        19: _msg("configMap", "core.v1.ConfigMapVolumeSource"),
        26: _msg("projected", "core.v1.ProjectedVolumeSource"),
    },
    "core.v1.HostPathVolumeSource": {1: _s("path", always=True), 2: _s("type", always=True)},
    "core.v1.EmptyDirVolumeSource": {1: _s("medium"), 2: _qty("sizeLimit")},
    "core.v1.SecretVolumeSource": {
        1: _s("secretName"),
        2: _msgs("items", "core.v1.KeyToPath"),
        3: _i32("defaultMode", always=True),
        4: _flag("optional", always=True),
    },
    "core.v1.ConfigMapVolumeSource": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _msgs("items", "core.v1.KeyToPath"),
        3: _i32("defaultMode", always=True),
        4: _flag("optional", always=True),
    },
    "core.v1.KeyToPath": {
        1: _s("key", always=True),
        2: _s("path", always=True),
        3: _i32("mode", always=True),
    },
    "core.v1.PersistentVolumeClaimVolumeSource": {1: _s("claimName", always=True), 2: _flag("readOnly")},
    "core.v1.DownwardAPIVolumeSource": {
        1: _msgs("items", "core.v1.DownwardAPIVolumeFile"),
        2: _i32("defaultMode", always=True),
    },
    "core.v1.DownwardAPIVolumeFile": {
        1: _s("path", always=True),
        2: _msg("fieldRef", "core.v1.ObjectFieldSelector"),
        3: _msg("resourceFieldRef", "core.v1.ResourceFieldSelector"),
        4: _i32("mode", always=True),
    },
    "core.v1.ProjectedVolumeSource": {
        1: _msgs("sources", "core.v1.VolumeProjection"),
        2: _i32("defaultMode", always=True),
    },
    "core.v1.VolumeProjection": {
        1: _msg("secret", "core.v1.SecretProjection"),
        2: _msg("downwardAPI", "core.v1.DownwardAPIProjection"),
        3: _msg("configMap", "core.v1.ConfigMapProjection"),
        4: _msg("serviceAccountToken", "core.v1.ServiceAccountTokenProjection"),
    },
    "core.v1.SecretProjection": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _msgs("items", "core.v1.KeyToPath"),
        4: _flag("optional", always=True),
    },
    "core.v1.ConfigMapProjection": {
        1: _inline("core.v1.LocalObjectReference"),
        2: _msgs("items", "core.v1.KeyToPath"),
        4: _flag("optional", always=True),
    },
    "core.v1.DownwardAPIProjection": {1: _msgs("items", "core.v1.DownwardAPIVolumeFile")},
    "core.v1.ServiceAccountTokenProjection": {
        1: _s("audience"),
        2: _i64("expirationSeconds", always=True),
        3: _s("path", always=True),
    },
    "core.v1.PodStatus": {
        1: _s("phase"),
        2: _msgs("conditions", "core.v1.PodCondition"),
        3: _s("message"),
        4: _s("reason"),
        11: _s("nominatedNodeName"),
        5: _s("hostIP"),
        16: _msgs("hostIPs", "core.v1.HostIP"),
        6: _s("podIP"),
        12: _msgs("podIPs", "core.v1.PodIP"),
        7: _time("startTime"),
        10: _msgs("initContainerStatuses", "core.v1.ContainerStatus"),
        8: _msgs("containerStatuses", "core.v1.ContainerStatus"),
        9: _s("qosClass"),
    },
    "core.v1.PodCondition": {
        1: _s("type", always=True),
        7: _i64("observedGeneration"),
        2: _s("status", always=True),
        3: _time("lastProbeTime"),
        4: _time("lastTransitionTime"),
        5: _s("reason"),
        6: _s("message"),
    },
    "core.v1.HostIP": {1: _s("ip", always=True)},
    "core.v1.PodIP": {1: _s("ip", always=True)},
    "core.v1.ContainerStatus": {
        1: _s("name", always=True),
        2: _msg("state", "core.v1.ContainerState"),
        3: _msg("lastState", "core.v1.ContainerState"),
        4: _flag("ready", always=True),
        5: _i32("restartCount", always=True),
        6: _s("image", always=True),
        7: _s("imageID", always=True),
        8: _s("containerID"),
        9: _flag("started", always=True),
    },
    "core.v1.ContainerState": {
        1: _msg("waiting", "core.v1.ContainerStateWaiting"),
        2: _msg("running", "core.v1.ContainerStateRunning"),
        3: _msg("terminated", "core.v1.ContainerStateTerminated"),
    },
    "core.v1.ContainerStateWaiting": {1: _s("reason"), 2: _s("message")},
    "core.v1.ContainerStateRunning": {1: _time("startedAt")},
    "core.v1.ContainerStateTerminated": {
        1: _i32("exitCode", always=True),
        2: _i32("signal"),
        3: _s("reason"),
        4: _s("message"),
        5: _time("startedAt"),
        6: _time("finishedAt"),
        7: _s("containerID"),
    },
    # k8s.io/api/apps/v1
    "apps.v1.Deployment": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "apps.v1.DeploymentSpec"),
        3: _msg("status", "apps.v1.DeploymentStatus"),
    },
    "apps.v1.DeploymentSpec": {
        1: _i32("replicas", always=True),
        2: _msg("selector", "meta.v1.LabelSelector"),
        3: _msg("template", "core.v1.PodTemplateSpec"),
        4: _msg("strategy", "apps.v1.DeploymentStrategy"),
        5: _i32("minReadySeconds"),
        6: _i32("revisionHistoryLimit", always=True),
        7: _flag("paused"),
        9: _i32("progressDeadlineSeconds", always=True),
    },
    "apps.v1.DeploymentStrategy": {
        1: _s("type"),
        2: _msg("rollingUpdate", "apps.v1.RollingUpdateDeployment"),
    },
    "apps.v1.RollingUpdateDeployment": {
        1: _ios("maxUnavailable", always=True),
        2: _ios("maxSurge", always=True),
    },
    "apps.v1.DeploymentStatus": {
        1: _i64("observedGeneration"),
        2: _i32("replicas"),
        3: _i32("updatedReplicas"),
        7: _i32("readyReplicas"),
        4: _i32("availableReplicas"),
        5: _i32("unavailableReplicas"),
        9: _i32("terminatingReplicas", always=True),
        6: _msgs("conditions", "apps.v1.DeploymentCondition"),
        8: _i32("collisionCount", always=True),
    },
    "apps.v1.DeploymentCondition": {
        1: _s("type", always=True),
        2: _s("status", always=True),
        6: _time("lastUpdateTime"),
        7: _time("lastTransitionTime"),
        4: _s("reason"),
        5: _s("message"),
    },
    "apps.v1.ReplicaSet": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "apps.v1.ReplicaSetSpec"),
        3: _msg("status", "apps.v1.ReplicaSetStatus"),
    },
    "apps.v1.ReplicaSetSpec": {
        1: _i32("replicas", always=True),
        4: _i32("minReadySeconds"),
        2: _msg("selector", "meta.v1.LabelSelector"),
        3: _msg("template", "core.v1.PodTemplateSpec"),
    },
    "apps.v1.ReplicaSetStatus": {
        1: _i32("replicas", always=True),
        2: _i32("fullyLabeledReplicas"),
        4: _i32("readyReplicas"),
        5: _i32("availableReplicas"),
        7: _i32("terminatingReplicas", always=True),
        3: _i64("observedGeneration"),
        6: _msgs("conditions", "apps.v1.ReplicaSetCondition"),
    },
    "apps.v1.ReplicaSetCondition": {
        1: _s("type", always=True),
        2: _s("status", always=True),
        3: _time("lastTransitionTime"),
        4: _s("reason"),
        5: _s("message"),
    },
    # k8s.io/api/autoscaling/v1
    "autoscaling.v1.Scale": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "autoscaling.v1.ScaleSpec"),
        3: _msg("status", "autoscaling.v1.ScaleStatus"),
    },
    "autoscaling.v1.ScaleSpec": {1: _i32("replicas")},
    "autoscaling.v1.ScaleStatus": {1: _i32("replicas", always=True), 2: _s("selector")},
    # k8s.io/api/coordination/v1
    "coordination.v1.Lease": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _msg("spec", "coordination.v1.LeaseSpec"),
    },
    "coordination.v1.LeaseSpec": {
        1: _s("holderIdentity", always=True),
        2: _i32("leaseDurationSeconds", always=True),
        3: _mtime("acquireTime"),
        4: _mtime("renewTime"),
        5: _i32("leaseTransitions", always=True),
        6: _s("strategy", always=True),
        7: _s("preferredHolder", always=True),
    },
    # k8s.io/api/events/v1
    "events.v1.Event": {
        1: _msg("metadata", "meta.v1.ObjectMeta"),
        2: _mtime("eventTime"),
        3: _msg("series", "events.v1.EventSeries"),
        4: _s("reportingController"),
        5: _s("reportingInstance"),
        6: _s("action"),
        7: _s("reason"),
        8: _msg("regarding", "core.v1.ObjectReference"),
        9: _msg("related", "core.v1.ObjectReference"),
        10: _s("note"),
        11: _s("type"),
        12: _msg("deprecatedSource", "core.v1.EventSource"),
        13: _time("deprecatedFirstTimestamp"),
        14: _time("deprecatedLastTimestamp"),
        15: _i32("deprecatedCount"),
    },
    "events.v1.EventSeries": {1: _i32("count", always=True), 2: _mtime("lastObservedTime")},
}

# (apiVersion, kind) -> the message in MESSAGES holding the object.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "core.v1.Namespace",
    ("v1", "ConfigMap"): "core.v1.ConfigMap",
    ("v1", "Secret"): "core.v1.Secret",
    ("v1", "ServiceAccount"): "core.v1.ServiceAccount",
    ("v1", "Service"): "core.v1.Service",
    ("v1", "Event"): "core.v1.Event",
    ("v1", "Pod"): "core.v1.Pod",
    ("apps/v1", "Deployment"): "apps.v1.Deployment",
    ("apps/v1", "ReplicaSet"): "apps.v1.ReplicaSet",
    ("autoscaling/v1", "Scale"): "autoscaling.v1.Scale",
    ("coordination.k8s.io/v1", "Lease"): "coordination.v1.Lease",
    ("events.k8s.io/v1", "Event"): "events.v1.Event",
}


# --- the wire format -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wire:
    """One field as read from the wire; `offset` is where its tag starts in the whole body."""

    number: int
    wire_type: int
    value: int | bytes
    offset: int  # of the field's tag
    value_offset: int  # of its payload (after the tag and, for length-delimited, the length)


def _varint(buf: bytes, pos: int, base: int) -> tuple[int, int]:
    """Read a base-128 varint at `pos`; `base` is `buf`'s offset in the body, for messages."""
    start = pos
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise UnsupportedProtobuf(f"truncated varint at offset {base + start}: the body ends inside it")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise UnsupportedProtobuf(f"varint at offset {base + start} does not fit in 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise UnsupportedProtobuf(f"varint at offset {base + start} is longer than 10 bytes")


def _fields(buf: bytes, base: int) -> Iterator[_Wire]:
    """The fields of one message, in wire order."""
    pos = 0
    while pos < len(buf):
        offset = base + pos
        tag, pos = _varint(buf, pos, base)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise UnsupportedProtobuf(f"field number 0 at offset {offset} (not a valid protobuf message)")
        value: int | bytes
        value_offset = base + pos
        if wire_type == _VARINT:
            value, pos = _varint(buf, pos, base)
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if pos + size > len(buf):
                raise UnsupportedProtobuf(
                    f"truncated {_WIRE_NAMES[wire_type]} field {number} at offset {offset}: "
                    f"needs {size} bytes, {len(buf) - pos} left"
                )
            value = int.from_bytes(buf[pos : pos + size], "little")
            pos += size
        elif wire_type == _LEN:
            length, pos = _varint(buf, pos, base)
            value_offset = base + pos
            if pos + length > len(buf):
                raise UnsupportedProtobuf(
                    f"truncated length-delimited field {number} at offset {offset}: "
                    f"declares {length} bytes, {len(buf) - pos} left"
                )
            value = buf[pos : pos + length]
            pos += length
        else:
            raise UnsupportedProtobuf(
                f"field {number} at offset {offset} uses wire type {wire_type} "
                f"({_WIRE_NAMES.get(wire_type, 'invalid')}), which Kubernetes messages never use"
            )
        yield _Wire(number, wire_type, value, offset, value_offset)


def _signed(value: int, bits: int) -> int:
    """Two's complement of a varint (negative int32/int64 are sent as 10-byte varints)."""
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    if bits == 32 and not -(1 << 31) <= value < 1 << 31:
        raise ValueError(f"{value} does not fit in int32")
    return value


def _is_zero(w: _Wire) -> bool:
    return w.value in (0, b"")


# --- from wire values to JSON ----------------------------------------------------------------------


class _Decoder:
    """Decodes messages by the MESSAGES table; `path` in errors is the JSON path of the field."""

    def message(self, buf: bytes, base: int, message: str, path: str) -> dict[str, Any]:
        schema = MESSAGES[message]
        out: dict[str, Any] = {}
        for w in _fields(buf, base):
            field = schema.get(w.number)
            if field is None:
                if _is_zero(w):
                    continue  # a field the table lacks, holding its zero value: nothing is lost
                raise UnsupportedProtobuf(
                    f"field {w.number} of {message} at {path or '.'} (offset {w.offset}) holds a value, but "
                    f"the emulator's protobuf decoder does not know that field; send this object as JSON"
                )
            self._field(out, field, w, message, path)
        return out

    def _field(self, out: dict[str, Any], field: Field, w: _Wire, message: str, path: str) -> None:
        where = f"{path}.{field.name}" if field.name else path
        if field.type is T.INLINE:
            self._expect(w, _LEN, field, message, where)
            assert isinstance(w.value, bytes)
            out.update(self.message(w.value, w.value_offset, field.message, path))
            return
        if field.type is T.MAP:
            self._expect(w, _LEN, field, message, where)
            assert isinstance(w.value, bytes)
            key, value = self._map_entry(w.value, w.value_offset, field, where)
            out.setdefault(field.name, {})[key] = value
            return
        if field.repeated and field.type in _SCALARS and w.wire_type == _LEN:
            assert isinstance(w.value, bytes)  # packed: a run of varints
            items = out.setdefault(field.name, [])
            for i, packed in enumerate(self._packed(w.value, w.value_offset)):
                items.append(self._scalar(field.type, packed, f"{where}[{len(items) + i}]"))
            return
        present, value = self._value(field, w, message, where)
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        elif present and (field.always or not _is_json_zero(value)):
            out[field.name] = value
        else:
            out.pop(field.name, None)

    def _packed(self, buf: bytes, base: int) -> Iterator[int]:
        pos = 0
        while pos < len(buf):
            value, pos = _varint(buf, pos, base)
            yield value

    def _expect(self, w: _Wire, wire_type: int, field: Field, message: str, where: str) -> None:
        if w.wire_type != wire_type:
            raise UnsupportedProtobuf(
                f"field {w.number} ({where or '.'}) of {message} at offset {w.offset} has wire type "
                f"{_WIRE_NAMES[w.wire_type]}, but the schema says {field.type.value} "
                f"({_WIRE_NAMES[wire_type]})"
            )

    def _value(self, field: Field, w: _Wire, message: str, where: str) -> tuple[bool, Any]:
        """The JSON value of one occurrence; `present` is False for zero timestamps (Go's null)."""
        if field.type in _SCALARS:
            self._expect(w, _VARINT, field, message, where)
            assert isinstance(w.value, int)
            return True, self._scalar(field.type, w.value, where)
        self._expect(w, _LEN, field, message, where)
        assert isinstance(w.value, bytes)
        return self._bytes_value(field.type, field.message, w.value, w.value_offset, where)

    def _scalar(self, kind: T, value: int, where: str) -> int | bool:
        if kind is T.BOOL:
            return value != 0
        try:
            return _signed(value, 32 if kind is T.INT32 else 64)
        except ValueError as exc:
            raise UnsupportedProtobuf(f"{where}: {exc}") from None

    def _bytes_value(self, kind: T, message: str, buf: bytes, base: int, where: str) -> tuple[bool, Any]:
        if kind is T.STRING:
            return True, _text(buf, base, where)
        if kind is T.BYTES:
            return True, base64.b64encode(buf).decode("ascii")
        if kind is T.MESSAGE:
            return True, self.message(buf, base, message, where)
        if kind is T.TIME or kind is T.MICROTIME:
            return self._timestamp(buf, base, where, micro=kind is T.MICROTIME)
        if kind is T.INT_OR_STRING:
            return True, self._int_or_string(buf, base, where)
        if kind is T.QUANTITY:
            return True, self._one_string(buf, base, where, "Quantity")
        if kind is T.FIELDS_V1:
            return True, self._fields_v1(buf, base, where)
        raise AssertionError(f"unhandled field type {kind}")  # pragma: no cover - the table is fixed

    def _map_entry(self, buf: bytes, base: int, field: Field, where: str) -> tuple[str, Any]:
        assert field.value is not None
        key = ""
        value: Any = _zero_json(field.value)
        for w in _fields(buf, base):
            if w.number == 1 and w.wire_type == _LEN:
                assert isinstance(w.value, bytes)
                key = _text(w.value, w.value_offset, f"{where} key")
            elif w.number == 2 and w.wire_type == _LEN:
                assert isinstance(w.value, bytes)
                _, value = self._bytes_value(
                    field.value, field.message, w.value, w.value_offset, f"{where}[{key!r}]"
                )
            else:
                raise UnsupportedProtobuf(
                    f"map entry of {where} at offset {w.offset} has field {w.number} "
                    f"({_WIRE_NAMES[w.wire_type]}); entries hold key=1 and value=2 only"
                )
        return key, value

    def _timestamp(self, buf: bytes, base: int, where: str, *, micro: bool) -> tuple[bool, str | None]:
        seconds = nanos = 0
        for w in _fields(buf, base):
            if w.number in (1, 2) and w.wire_type == _VARINT:
                assert isinstance(w.value, int)
                if w.number == 1:
                    seconds = _signed(w.value, 64)
                else:
                    nanos = _signed(w.value, 64)
            elif not _is_zero(w):
                raise UnsupportedProtobuf(
                    f"{where}: unexpected field {w.number} in a Time at offset {w.offset}"
                )
        if seconds == 0 and nanos == 0:
            return False, None
        if not 0 <= nanos < 1_000_000_000:
            raise UnsupportedProtobuf(f"{where}: nanos {nanos} out of range 0..999999999")
        try:
            stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, ValueError, OSError):
            raise UnsupportedProtobuf(f"{where}: time of {seconds} seconds is out of range") from None
        if micro:
            return True, stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
        return True, stamp.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _int_or_string(self, buf: bytes, base: int, where: str) -> int | str:
        kind, int_val, str_val = 0, 0, ""
        for w in _fields(buf, base):
            if w.number == 1 and w.wire_type == _VARINT:
                assert isinstance(w.value, int)
                kind = _signed(w.value, 64)
            elif w.number == 2 and w.wire_type == _VARINT:
                assert isinstance(w.value, int)
                int_val = int(self._scalar(T.INT32, w.value, where))
            elif w.number == 3 and w.wire_type == _LEN:
                assert isinstance(w.value, bytes)
                str_val = _text(w.value, w.value_offset, where)
            elif not _is_zero(w):
                raise UnsupportedProtobuf(
                    f"{where}: unexpected field {w.number} in an IntOrString at offset {w.offset}"
                )
        if kind == 0:
            return int_val
        if kind == 1:
            return str_val
        raise UnsupportedProtobuf(f"{where}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")

    def _one_string(self, buf: bytes, base: int, where: str, what: str) -> str:
        text = ""
        for w in _fields(buf, base):
            if w.number == 1 and w.wire_type == _LEN:
                assert isinstance(w.value, bytes)
                text = _text(w.value, w.value_offset, where)
            elif not _is_zero(w):
                raise UnsupportedProtobuf(
                    f"{where}: unexpected field {w.number} in a {what} at offset {w.offset}"
                )
        return text

    def _fields_v1(self, buf: bytes, base: int, where: str) -> Any:
        raw_json = b""
        for w in _fields(buf, base):
            if w.number == 1 and w.wire_type == _LEN:
                assert isinstance(w.value, bytes)
                raw_json = w.value
            elif not _is_zero(w):
                raise UnsupportedProtobuf(
                    f"{where}: unexpected field {w.number} in FieldsV1 at offset {w.offset}"
                )
        if not raw_json:
            return {}
        try:
            return json.loads(raw_json)
        except ValueError as exc:
            raise UnsupportedProtobuf(
                f"{where}: FieldsV1 holds invalid JSON at offset {base}: {exc}"
            ) from None


def _text(buf: bytes, base: int, where: str) -> str:
    try:
        return buf.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedProtobuf(
            f"{where or '.'}: string at offset {base + exc.start} is not valid UTF-8"
        ) from None


def _zero_json(kind: T) -> Any:
    return {T.STRING: "", T.BYTES: "", T.QUANTITY: "", T.MESSAGE: {}}.get(kind, 0)


def _is_json_zero(value: Any) -> bool:
    """Go's omitempty: false, 0, "", and empty maps and slices (but never a struct)."""
    return value is False or value in (0, "")


# --- the envelope ----------------------------------------------------------------------------------


def decode_body(body: bytes) -> dict[str, Any]:
    """Decode a Kubernetes protobuf request body into the JSON-equivalent object.

    The result has `apiVersion` and `kind` from the envelope, then the object's fields as the Go
    JSON encoding would write them. Raises `UnsupportedProtobuf` (answer 415) for a kind missing from
    `KINDS`, a field the tables do not know holding a value, or malformed bytes (with the offset).
    """
    if not body.startswith(MAGIC):
        raise NotProtobuf(
            f"protobuf body does not start with the Kubernetes magic prefix b'k8s\\x00' (starts {body[:4]!r})"
        )
    api_version = kind = content_encoding = content_type = ""
    raw_object: bytes | None = None
    raw_offset = 0
    for w in _fields(body[len(MAGIC) :], len(MAGIC)):
        if w.wire_type != _LEN:
            if _is_zero(w):
                continue
            raise UnsupportedProtobuf(
                f"envelope field {w.number} at offset {w.offset} is not length-delimited"
            )
        assert isinstance(w.value, bytes)
        if w.number == 1:
            for t in _fields(w.value, w.value_offset):
                if t.wire_type == _LEN and t.number in (1, 2):
                    assert isinstance(t.value, bytes)
                    text = _text(t.value, t.value_offset, "envelope typeMeta")
                    if t.number == 1:
                        api_version = text
                    else:
                        kind = text
        elif w.number == 2:
            raw_object, raw_offset = w.value, w.value_offset
        elif w.number == 3:
            content_encoding = _text(w.value, w.value_offset, "envelope contentEncoding")
        elif w.number == 4:
            content_type = _text(w.value, w.value_offset, "envelope contentType")
        elif w.value:
            raise UnsupportedProtobuf(
                f"envelope field {w.number} at offset {w.offset} is not part of runtime.Unknown"
            )
    if not api_version or not kind:
        raise UnsupportedProtobuf(
            "protobuf envelope carries no apiVersion and kind (runtime.Unknown typeMeta)"
        )
    if content_encoding:
        raise UnsupportedProtobuf(
            f"protobuf body of kind {api_version} {kind} uses content encoding {content_encoding!r}, "
            f"which the emulator does not read"
        )
    if content_type and not is_protobuf(content_type):
        raise UnsupportedProtobuf(
            f"protobuf envelope of kind {api_version} {kind} wraps content type {content_type!r}, "
            f"not protobuf"
        )
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedProtobuf(
            f"protobuf body of kind {api_version} {kind} is not supported by the emulator; send it as JSON "
            f"(Content-Type: application/json), e.g. with `kubectl apply -f` or a client in JSON mode"
        )
    if raw_object is None:
        raise UnsupportedProtobuf(
            f"protobuf body of kind {api_version} {kind} carries no object (raw is empty)"
        )
    decoded = _Decoder().message(raw_object, raw_offset, message, "")
    return {"apiVersion": api_version, "kind": kind, **decoded}
