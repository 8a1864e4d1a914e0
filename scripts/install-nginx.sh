#!/usr/bin/env bash
# Installs nginx for the test of two daemons behind it (test/postgres/nginx.test.ts): Debian's
# nginx-light package (/usr/sbin/nginx). Reused when present; needs root otherwise. The package's own
# service is not started (policy-rc.d says no while the package installs): the test runs an nginx of
# its own, as a foreground process on a free loopback port.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
  echo "nginx: already installed ($(/usr/sbin/nginx -v 2>&1))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-nginx.sh: nginx is not installed (no /usr/sbin/nginx), and installing Debian's nginx-light package needs root." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-nginx.sh: nginx is not installed and there is no apt-get here: install nginx 1.18 or later so that /usr/sbin/nginx exists." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# No service started by the package's scripts (it would take port 80): Debian's policy-rc.d, exit 101.
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=yes
fi
remove_policy() { if [ "$made_policy" = yes ]; then rm -f "$policy"; fi; }
trap remove_policy EXIT
if ! apt-get update || ! apt-get install -y --no-install-recommends nginx-light; then
  echo "install-nginx.sh: apt-get could not install Debian's nginx-light package (see above)." >&2
  exit 1
fi
if [ ! -x /usr/sbin/nginx ]; then
  echo "install-nginx.sh: the nginx-light package was installed, but /usr/sbin/nginx does not exist." >&2
  exit 1
fi
echo "nginx: installed ($(/usr/sbin/nginx -v 2>&1))"
