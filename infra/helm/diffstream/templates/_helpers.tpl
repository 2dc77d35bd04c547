{{- define "diffstream.labels" -}}
app.kubernetes.io/name: diffstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "diffstream.selector" -}}
app.kubernetes.io/name: diffstream
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "diffstream.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-credentials" .Release.Name) -}}
{{- end }}

{{/* Settings every role reads: Kafka, S3, from the values and the Secret. */}}
{{- define "diffstream.env" -}}
- name: DIFFSTREAM_HOME
  value: /tmp/diffstream
- name: DIFFSTREAM_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: DIFFSTREAM_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if .Values.kafka.sasl.enabled }}
- name: DIFFSTREAM_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
- name: DIFFSTREAM_KAFKA_SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ include "diffstream.secretName" . }}, key: kafka-sasl-username}}
- name: DIFFSTREAM_KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "diffstream.secretName" . }}, key: kafka-sasl-password}}
{{- end }}
- name: DIFFSTREAM_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: DIFFSTREAM_S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: DIFFSTREAM_S3_ACCESS_KEY
  valueFrom: {secretKeyRef: {name: {{ include "diffstream.secretName" . }}, key: s3-access-key}}
- name: DIFFSTREAM_S3_SECRET_KEY
  valueFrom: {secretKeyRef: {name: {{ include "diffstream.secretName" . }}, key: s3-secret-key}}
{{- end }}

{{/* Non-root, read-only root filesystem; /tmp (DIFFSTREAM_HOME, caches) is an emptyDir. */}}
{{- define "diffstream.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65534
  runAsGroup: 65534
  fsGroup: 65534
  seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "diffstream.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end }}

{{- define "diffstream.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: 5
  failureThreshold: {{ .startupFailures | default 24 }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  periodSeconds: 5
  failureThreshold: 2
{{- end }}

{{- define "diffstream.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}

{{/* A KEDA Kafka trigger on one topic's lag for one consumer group. */}}
{{- define "diffstream.kafkaTrigger" -}}
- type: kafka
  metadata:
    bootstrapServers: {{ .root.Values.kafka.bootstrap | quote }}
    consumerGroup: {{ .group | quote }}
    topic: {{ .topic | quote }}
    lagThreshold: {{ .lagThreshold | quote }}
    activationLagThreshold: "0"
    offsetResetPolicy: earliest
    allowIdleConsumers: "false"
  {{- if .root.Values.kafka.sasl.enabled }}
    sasl: {{ .root.Values.kafka.sasl.mechanism | lower | replace "-" "_" | replace "scram_sha_" "scram_sha" | quote }}
    tls: {{ ternary "enable" "disable" (hasSuffix "SSL" .root.Values.kafka.securityProtocol) | quote }}
  authenticationRef:
    name: {{ .root.Release.Name }}-kafka
  {{- end }}
{{- end }}
