{{/* Names are fixed: the agent ClusterRoles are bound by name and one stash-ts runs per cluster. */}}
{{- define "stash-ts.name" -}}stash-ts-operator{{- end -}}

{{- define "stash-ts.image" -}}
{{- printf "%s/%s:%s" .registry .repository .tag -}}
{{- end -}}

{{/* The serving certificate: generated once per render, or the user's. */}}
{{- define "stash-ts.certs" -}}
{{- if .Values.apiserver.servingCerts.generate -}}
{{- $ca := genCA "stash-ts-ca" 3650 -}}
{{- $svc := include "stash-ts.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $cert := genSignedCert $svc nil (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) 3650 $ca -}}
{{- dict "ca" $ca.Cert "crt" $cert.Cert "key" $cert.Key | toJson -}}
{{- else -}}
{{- dict "ca" .Values.apiserver.servingCerts.caCrt "crt" .Values.apiserver.servingCerts.serverCrt "key" .Values.apiserver.servingCerts.serverKey | toJson -}}
{{- end -}}
{{- end -}}
