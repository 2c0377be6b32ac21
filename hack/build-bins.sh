#!/usr/bin/env bash
# Builds the Go binaries the local world needs (control plane, restic, backends) from Go modules,
# once per version, into a cache outside the repository. Safe to run again: a cached version is reused.
# Usage: hack/build-bins.sh [all|k8s|k8s-node|etcd|etcd-tools|restic|rest-server|minio|template|promtool|helm|ferretdb]...
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
CACHE=${STASH_TS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stash-ts}
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod

log() { printf '[build-bins %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# done_or_build DIR NAME... : true when every NAME already exists in DIR
have() { local d=$1; shift; for b in "$@"; do [ -x "$d/$b" ] || return 1; done; }

# k8s_build DIR BINARY... : the named commands of k8s.io/kubernetes at $K8S_VERSION through the wrapper module
# hack/bins/k8s (its go.mod pins the staging modules), into $CACHE/bins/DIR-$K8S_VERSION.
k8s_build() {
  local out="$CACHE/bins/$1-$K8S_VERSION"; shift
  have "$out" "$@" && return 0
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  log "building kubernetes $K8S_VERSION ($*): slow when cold"
  local pkgs=(); for b in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  mkdir -p "$out.tmp"
  (cd "$here/bins/k8s" && go build -trimpath -ldflags "$ldf" -o "$out.tmp/" "${pkgs[@]}")
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubernetes $K8S_VERSION ($*) done"
}
build_k8s() { k8s_build k8s kube-apiserver kube-controller-manager kubectl; }
# The node side of the real-kubelet world (test/world/node/): kubelet, kube-proxy and the scheduler.
build_k8s_node() { k8s_build k8s-node kubelet kube-proxy kube-scheduler; }

build_etcd() {
  local out="$CACHE/bins/etcd-$ETCD_VERSION"
  have "$out" etcd && return 0
  log "building etcd $ETCD_VERSION"
  mkdir -p "$out.tmp"
  (cd "$here/bins/etcd" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# etcdctl and etcdutl of the same etcd version, for etcd members (agent/db/etcd.ts): snapshot save/restore.
build_etcd_tools() {
  local out="$CACHE/bins/etcd-tools-$ETCD_VERSION"
  have "$out" etcdctl etcdutl && return 0
  log "building etcdctl + etcdutl $ETCD_VERSION"
  local mod="$CACHE/wrappers/etcd-tools-$ETCD_VERSION"
  mkdir -p "$mod" "$out.tmp"
  printf 'module stashts/bins/etcd-tools\n\ngo 1.26.0\n\nrequire (\n\tgo.etcd.io/etcd/etcdctl/v3 %s\n\tgo.etcd.io/etcd/etcdutl/v3 %s\n)\n' "$ETCD_VERSION" "$ETCD_VERSION" > "$mod/go.mod"
  printf 'package main\n\nimport (\n\t_ "go.etcd.io/etcd/etcdctl/v3"\n\t_ "go.etcd.io/etcd/etcdutl/v3"\n)\n' > "$mod/tools.go"
  (cd "$mod" && { go mod tidy >/dev/null 2>&1 || true; } \
    && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcdctl" go.etcd.io/etcd/etcdctl/v3 \
    && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcdutl" go.etcd.io/etcd/etcdutl/v3)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# go_build NAME VERSION MODULE PACKAGE BINARY: builds through a throw-away wrapper module, because
# `go install pkg@version` asks the proxy for the module's version list, which it does not serve for all modules.
go_build() {
  local name=$1 version=$2 module=$3 pkg=$4 bin=$5
  local out="$CACHE/bins/$name-$version"
  have "$out" "$bin" && return 0
  log "building $name $version"
  local mod="$CACHE/wrappers/$name-$version"
  mkdir -p "$mod" "$out.tmp"
  printf 'module stashts/bins/%s\n\ngo 1.26.0\n\nrequire %s %s\n' "$name" "$module" "$version" > "$mod/go.mod"
  printf 'package main\n\nimport _ "%s"\n' "$pkg" > "$mod/tools.go"
  (cd "$mod" && go mod tidy >/dev/null 2>&1 || true; go build -trimpath -tags "${GO_TAGS:-}" -ldflags "-s -w" -o "$out.tmp/$bin" "$pkg")
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_restic() { go_build restic "$RESTIC_VERSION" github.com/restic/restic github.com/restic/restic/cmd/restic restic; }
build_rest_server() { go_build rest-server "$REST_SERVER_VERSION" github.com/restic/rest-server github.com/restic/rest-server/cmd/rest-server rest-server; }
build_minio() { go_build minio "$MINIO_VERSION" github.com/minio/minio github.com/minio/minio minio; }
# Test tools of the chart and the metrics (charts/stash-ts, test/integration/metrics*.test.ts). promtool is built
# without Prometheus's service-discovery plugins (AWS, Azure, GCE, ... SDKs): the tests only check metrics and
# rules, and the plugins were most of a cold build that took about 70 min on a loaded 2-core machine.
build_promtool() { GO_TAGS=remove_all_sd go_build promtool "$PROMETHEUS_VERSION" github.com/prometheus/prometheus github.com/prometheus/prometheus/cmd/promtool promtool; }
build_helm() { go_build helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm helm; }
# The MongoDB-protocol server of the mongodb member tests (test/backends/ferretdb.ts), run on its SQLite backend
# (pure Go, so CGO stays off); the PostgreSQL backend is left out of the binary as the tests never use it.
# Built from a copy of the module source, not through a wrapper module: the binary refuses to start without
# build/version/version.txt, which its release process generates and the module zip does not carry.
build_ferretdb() {
  local out="$CACHE/bins/ferretdb-$FERRETDB_VERSION"
  have "$out" ferretdb && return 0
  log "building ferretdb $FERRETDB_VERSION"
  # (from the cache directory: outside any module, so no go.mod nearby is touched)
  local src; src=$(cd "$CACHE" && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | grep '"Dir":' | cut -d'"' -f4)
  [ -n "$src" ] || { log "cannot download github.com/FerretDB/FerretDB@$FERRETDB_VERSION"; return 1; }
  local mod="$CACHE/wrappers/ferretdb-$FERRETDB_VERSION"
  rm -rf "$mod"; mkdir -p "$mod" "$out.tmp"
  cp -R "$src/." "$mod/"; chmod -R u+w "$mod"
  printf '%s\n' "$FERRETDB_VERSION" > "$mod/build/version/version.txt"
  (cd "$mod" && go build -trimpath -tags ferretdb_no_postgresql -ldflags "-s -w" -o "$out.tmp/ferretdb" ./cmd/ferretdb)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# The hook template engine (shared/template/go, docs/decisions/0009-hook-templates-in-wasm.md): the WebAssembly
# module the agent and operator run, and the same program built natively as the tests' reference. Its module
# pins sprig (go.mod, go.sum); the cache key is a hash of those sources, computed alike in test/backends/bins.ts.
template_src="$here/../shared/template/go"
template_version() { (cd "$template_src" && LC_ALL=C cat go.mod go.sum ./*.go | sha256sum | cut -c1-16); }
build_template() {
  local out; out="$CACHE/bins/template-$(template_version)"
  have "$out" stash-template && [ -f "$out/template.wasm" ] && return 0
  log "building the hook template engine ($out)"
  mkdir -p "$out.tmp"
  (cd "$template_src" && GOFLAGS=-mod=readonly GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags "-s -w" -o "$out.tmp/template.wasm" . \
    && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$out.tmp/stash-template" .)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# One builder per component at a time: a second caller waits, then finds the result cached.
locked() { mkdir -p "$CACHE/bins"; ( flock 9; "$@" ) 9>"$CACHE/bins/.lock-$1"; }

targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    all) locked build_etcd; locked build_etcd_tools; locked build_restic; locked build_rest_server; locked build_k8s; locked build_k8s_node; locked build_minio; locked build_template; locked build_promtool; locked build_helm; locked build_ferretdb ;;
    k8s) locked build_k8s ;; k8s-node) locked build_k8s_node ;; etcd) locked build_etcd ;; etcd-tools) locked build_etcd_tools ;; restic) locked build_restic ;;
    rest-server) locked build_rest_server ;; minio) locked build_minio ;; template) locked build_template ;;
    promtool) locked build_promtool ;; helm) locked build_helm ;; ferretdb) locked build_ferretdb ;;
    *) echo "unknown target: $t" >&2; exit 2 ;;
  esac
done
