{{/* Chart name, truncated to a DNS label. */}}
{{- define "b24-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: the release name, with the chart name appended unless it
is already part of it. The default release name b24-operator gives the names the manager
defaults to (b24-operator-webhook, b24-operator-webhook-cert, b24-operator).
*/}}
{{- define "b24-operator.fullname" -}}
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

{{- define "b24-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "b24-operator.labels" -}}
helm.sh/chart: {{ include "b24-operator.chart" . }}
{{ include "b24-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: b24-operator
{{- end }}

{{/* Labels that select the manager pods. */}}
{{- define "b24-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "b24-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "b24-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "b24-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "b24-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Object names the manager is told about. */}}
{{- define "b24-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "b24-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "b24-operator.webhookCertSecretName" -}}
{{- printf "%s-webhook-cert" (include "b24-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "b24-operator.webhookConfigName" -}}
{{- include "b24-operator.fullname" . }}
{{- end }}
{{- define "b24-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "b24-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "true" when leader election is on: asked for, or needed by more than one replica. */}}
{{- define "b24-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{ end }}
{{- end }}

{{- define "b24-operator.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/* "true" when the chart renders a PodDisruptionBudget. */}}
{{- define "b24-operator.pdb" -}}
{{- if kindIs "bool" .Values.podDisruptionBudget.enabled }}
{{- if .Values.podDisruptionBudget.enabled }}true{{ end }}
{{- else if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/* The manager's namespaced RBAC rules: in a ClusterRole, or in a Role per watched namespace. */}}
{{- define "b24-operator.namespacedRules" -}}
- apiGroups: [b24ops.io]
  resources: [portals, chatbots, chatapps, chats, botcommands, metabots, scheduledjobs]
  verbs: [get, list, watch, update, patch]
- apiGroups: [b24ops.io]
  resources: [portals/status, chatbots/status, chatapps/status, chats/status, botcommands/status, metabots/status, scheduledjobs/status]
  verbs: [get, update, patch]
- apiGroups: [b24ops.io]
  resources: [portals/finalizers, chatbots/finalizers, chatapps/finalizers, chats/finalizers, botcommands/finalizers, metabots/finalizers, scheduledjobs/finalizers]
  verbs: [update]
# Referenced Secrets and ConfigMaps: read (metadata watched, contents read live), finalizers
# while in use. Secrets also created: each OAuth Portal's <portal>-b24ops-tokens, where the
# rotated tokens are kept.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, update, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, get, list, watch, update, patch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
One scrape endpoint of the ServiceMonitor or PodMonitor: port, scheme and, with metrics.secure,
a bearer token from a Secret (the current form; bearerTokenFile is deprecated). cfg holds
interval, scrapeTimeout, relabelings and metricRelabelings.
*/}}
{{- define "b24-operator.scrapeEndpoint" -}}
{{- $root := .root -}}
{{- $cfg := .cfg -}}
port: metrics
path: /metrics
{{- if $root.Values.metrics.secure }}
scheme: https
# controller-runtime serves metrics with a self-signed certificate.
tlsConfig:
  insecureSkipVerify: true
authorization:
  type: Bearer
  credentials:
    name: {{ $root.Values.metrics.scrapeToken.existingSecret | default (printf "%s-metrics-scraper-token" (include "b24-operator.fullname" $root)) }}
    key: {{ $root.Values.metrics.scrapeToken.key }}
{{- else }}
scheme: http
{{- end }}
interval: {{ $cfg.interval }}
{{- with $cfg.scrapeTimeout }}
scrapeTimeout: {{ . }}
{{- end }}
{{- with $cfg.relabelings }}
relabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $cfg.metricRelabelings }}
metricRelabelings:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
