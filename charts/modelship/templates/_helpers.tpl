{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "modelship.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The operator pod's labels use component=operator, so they never match the serving and
training pods the operator itself labels app.kubernetes.io/name=modelship. */}}
{{- define "modelship.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelship.labels" -}}
{{ include "modelship.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modelship.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelship.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modelship.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Stops rendering with a message a person can act on when values contradict each other. */}}
{{- define "modelship.validate" -}}
{{- if and .Values.rbac.namespaced (not .Values.watchNamespaces) -}}
{{- fail "rbac.namespaced=true needs watchNamespaces: list the namespaces the operator watches, e.g. --set watchNamespaces={team-a,team-b}" -}}
{{- end -}}
{{- end -}}

{{/* What the operator does inside a namespace it watches: every verb here is a call in
controller/kube.py or a kopf watch (controller/cache.py: reads come from watch-fed caches,
so no get), finalizer removal and annotations, status, events. */}}
{{- define "modelship.namespacedRules" -}}
- apiGroups: [modelship.io]
  resources: [modeldeployments]
  # patch: removing the finalizer older versions added; the spec is never written.
  verbs: [list, watch, patch]
- apiGroups: [modelship.io]
  resources: [modeldeployments/status]
  # A merge patch of the fields the operator owns.
  verbs: [patch]
- apiGroups: [apps]
  resources: [deployments]
  # create + patch: server-side apply creates the object when it is absent. Never deleted:
  # the garbage collector removes it with its ModelDeployment (owner reference).
  verbs: [list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  # delete: the headless Service of a multi-worker training run, with its Job.
  verbs: [list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  # delete: finished training Jobs beyond the last few kept.
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  # Read only: why a pod is not ready (scheduler messages, crash loops, failed pulls).
  verbs: [list, watch]
- apiGroups: [""]
  resources: [secrets]
  # Read only, from a watch: the S3 credentials a ModelDeployment names in
  # spec.storage.secretRef (users name their Secrets, so no label selects them). Only
  # Secrets that can hold keys are kept in memory (not tokens, TLS or Helm releases).
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  # The controller (and kopf) post Events (core v1) and never change them.
  verbs: [create]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  # spec.rollout.traffic GatewayAPI: the user's HTTPRoute is read while a rollout is in
  # flight and its backendRefs' weights patched; never created or deleted (the user owns it).
  verbs: [get, patch]
{{- end -}}
