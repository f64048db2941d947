{{/*
Names and labels shared by every template, and the RBAC rules (one definition for Roles and the
ClusterRole, so namespaced and cluster-wide installs grant exactly the same verbs).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "serinus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of every resource: fullnameOverride, else release name + chart name (once). */}}
{{- define "serinus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels that select the controller pods (never change after install: selectors are immutable). */}}
{{- define "serinus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "serinus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{/* Labels on every object the chart creates. */}}
{{- define "serinus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "serinus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: serinus
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "serinus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "serinus.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name the existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The controller image: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "serinus.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The namespace holding the leader-election Lease. */}}
{{- define "serinus.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.leaseNamespace }}
{{- end }}

{{/*
The namespaces Serinus watches, one per line: watchNamespaces, else the release namespace.
Empty when clusterWide (every namespace). Fails on a contradictory request.
*/}}
{{- define "serinus.watchNamespaces" -}}
{{- if .Values.clusterWide }}
{{- if .Values.watchNamespaces }}
{{- fail "clusterWide: true watches every namespace; leave watchNamespaces empty (or set clusterWide: false)" }}
{{- end }}
{{- else if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
{{ . }}
{{- end }}
{{- else }}
{{ .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The rules Serinus needs where it acts on Canaries. No wildcard verbs or resources; Secrets are
`get` only (by name when git.secretNames/metrics.secretNames list them) and never listed or watched,
so the controller cannot read Secrets it has not been pointed at by a Canary or MetricTemplate.
*/}}
{{- define "serinus.rules" -}}
# Canaries and MetricTemplates: watched by the operator; finalizers and annotations are patched.
- apiGroups: ["serinus.dev"]
  resources: ["canaries", "metrictemplates"]
  verbs: ["get", "list", "watch", "patch", "update"]
# Status is the controller's only memory.
- apiGroups: ["serinus.dev"]
  resources: ["canaries/status"]
  verbs: ["get", "patch", "update"]
# Objects created for a Canary are owned by it (ownerReferences with blockOwnerDeletion).
- apiGroups: ["serinus.dev"]
  resources: ["canaries/finalizers"]
  verbs: ["update"]
# The target Deployment (scaled) and the <target>-primary Deployment Serinus owns.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["get", "update", "patch"]
# The apex, -primary and -canary Services.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Events for every transition, through both Event APIs (a repeated event is updated: count + 1).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["get", "create", "update", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "create", "update", "patch"]
# Credentials named by Canaries (source.git.secretRef) and MetricTemplates (provider.secretRef).
{{- $secrets := concat .Values.git.secretNames .Values.metrics.secretNames | uniq }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- if $secrets }}
  resourceNames:
{{- range $secrets }}
    - {{ . | quote }}
{{- end }}
{{- end }}
{{- if .Values.providers.gatewayapi }}
# provider gatewayapi: HTTPRoute backendRefs weights.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
{{- if .Values.providers.istio }}
# provider istio: VirtualService routes and DestinationRule subsets.
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices", "destinationrules"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
{{- if .Values.providers.smi }}
# provider smi (Linkerd): TrafficSplit backends.
- apiGroups: ["split.smi-spec.io"]
  resources: ["trafficsplits"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
{{- if .Values.providers.nginx }}
# provider nginx: the canary Ingress beside spec.ingressRef.
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
{{- end }}
