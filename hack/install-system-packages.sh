#!/usr/bin/env bash
# Debian packages the project needs beyond the machine's base image. Idempotent and quiet when all
# are present, so `make test` can call it every time.
# The database servers are only for the tests of database members (test/backends/mariadb.ts, postgres.ts):
# those start throwaway servers of their own in temporary directories and never use the system's instance,
# so a service the packages may start on a machine with an init system is not needed (and may be disabled).
# The real-kubelet world (test/world/node/) needs a container runtime (containerd + runc), the CNI plugins
# its pods' bridge network uses, iptables/conntrack for kube-proxy, socat for the loopback bridge to the
# apiserver, and mmdebstrap + busybox-static + gcc for the images it builds without a registry
# (test/world/images/). The world runs containerd itself with a config of its own; a system containerd
# service the package may start is not used.
# util-linux provides setpriv, which the agent's process runner (shared/restic/child.ts) puts in front of
# every child (`setpriv --pdeathsig KILL -- restic …`) so no restic or dump client outlives a killed agent,
# and unshare, which gives restic the pod's hostname in the local world.
set -euo pipefail
base=(openssl restic util-linux mariadb-server mariadb-client postgresql-15 postgresql-client-15 redis-server redis-tools)
world=(containerd runc containernetworking-plugins iptables conntrack socat mmdebstrap busybox-static gcc libc6-dev)
need=()
for pkg in "${base[@]}" "${world[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "[setup] installing Debian packages: ${need[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
