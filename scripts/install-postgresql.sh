#!/usr/bin/env bash
# Installs the PostgreSQL server the PostgreSQL store's tests start throwaway clusters of (initdb,
# pg_ctl, postgres under /usr/lib/postgresql/<version>/bin): Debian's postgresql package. Reused when
# present; needs root otherwise. The package's own cluster is not used by the tests.
set -euo pipefail
shopt -s nullglob
found=(/usr/lib/postgresql/*/bin/initdb)
if [ ${#found[@]} -gt 0 ]; then
  echo "PostgreSQL: already installed (${found[*]})"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgresql.sh: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb), and installing Debian's postgresql package needs root." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-postgresql.sh: PostgreSQL is not installed and there is no apt-get here: install PostgreSQL 13 or later so that /usr/lib/postgresql/<version>/bin/initdb exists." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update || ! apt-get install -y --no-install-recommends postgresql; then
  echo "install-postgresql.sh: apt-get could not install Debian's postgresql package (see above)." >&2
  exit 1
fi
found=(/usr/lib/postgresql/*/bin/initdb)
if [ ${#found[@]} -eq 0 ]; then
  echo "install-postgresql.sh: the postgresql package was installed, but no /usr/lib/postgresql/*/bin/initdb exists." >&2
  exit 1
fi
echo "PostgreSQL: installed (${found[*]})"
