{{/*
Names are fixed, so one stash-ts runs per cluster (docs/chart.md): the operator binds the agent ClusterRoles by
name, and the CRDs, ClusterRoles and webhook configurations are cluster-wide, so a second release would run a
second operator over the same objects. Fixed names make a second `helm install` fail on Helm's ownership check
instead.
*/}}
{{- define "stash-ts.name" -}}stash-ts-operator{{- end -}}

{{- define "stash-ts.tlsSecret" -}}stash-ts-operator-tls{{- end -}}

{{- define "stash-ts.image" -}}
{{- printf "%s/%s:%s" .registry .repository .tag -}}
{{- end -}}

{{/*
The serving certificate as JSON {ca, crt, key}: the user's PEMs, or generated. A generated one is made once, at
install: an upgrade finds the Secret the chart made (`lookup`) and keeps its CA, certificate and key, so the
webhooks' caBundle and the certificate the running replicas serve never change under an upgrade. Deleting the
Secret before an upgrade makes a new one. `lookup` answers nothing without a cluster (`helm template`,
`helm lint`, a client dry run): those render a fresh pair.
*/}}
{{- define "stash-ts.certs" -}}
{{- $sc := .Values.apiserver.servingCerts -}}
{{- if $sc.generate -}}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "stash-ts.tlsSecret" .) -}}
{{- $data := dig "data" dict $old -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- dict "ca" (index $data "ca.crt" | b64dec) "crt" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec) | toJson -}}
{{- else -}}
{{- $ca := genCA "stash-ts-ca" 3650 -}}
{{- $svc := include "stash-ts.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $cert := genSignedCert $svc nil (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns)) 3650 $ca -}}
{{- dict "ca" $ca.Cert "crt" $cert.Cert "key" $cert.Key | toJson -}}
{{- end -}}
{{- else -}}
{{- dict "ca" $sc.caCrt "crt" $sc.serverCrt "key" $sc.serverKey | toJson -}}
{{- end -}}
{{- end -}}
