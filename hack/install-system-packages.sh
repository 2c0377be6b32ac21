#!/usr/bin/env bash
# Debian packages the project needs beyond the machine's base image. Idempotent and quiet when all
# are present, so `make test` can call it every time.
# The database servers are only for the tests of database members (test/backends/mariadb.ts, postgres.ts):
# those start throwaway servers of their own in temporary directories and never use the system's instance,
# so a service the packages may start on a machine with an init system is not needed (and may be disabled).
# util-linux provides setpriv, which the agent's process runner (shared/restic/child.ts) puts in front of
# every child (`setpriv --pdeathsig KILL -- restic …`) so no restic or dump client outlives a killed agent,
# and unshare, which gives restic the pod's hostname in the local world.
set -euo pipefail
need=()
for pkg in openssl restic util-linux mariadb-server mariadb-client postgresql-15 postgresql-client-15; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "[setup] installing Debian packages: ${need[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
