{{/* Labels of the `helm test` objects: the release's, but never the manager's selector. */}}
{{- define "b24-operator.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "b24-operator.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "b24-operator.testLabels" -}}
helm.sh/chart: {{ include "b24-operator.chart" . }}
{{ include "b24-operator.testSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: b24-operator
app.kubernetes.io/component: test
{{- end }}
