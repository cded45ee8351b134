{{/* The chart's name, cut to 63 characters (the limit of a label value). */}}
{{- define "mcp-guard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's objects: RELEASE-mcp-guard. */}}
{{- define "mcp-guard.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcp-guard.labels" -}}
{{ include "mcp-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mcp-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcp-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Secret whose keys become the container's environment. */}}
{{- define "mcp-guard.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{- .Values.secret.existingSecret -}}
{{- else -}}
{{- include "mcp-guard.fullname" . -}}
{{- end -}}
{{- end -}}
