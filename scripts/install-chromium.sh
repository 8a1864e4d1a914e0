#!/usr/bin/env bash
# Installs the browser test/browser/swagger-ui.test.ts drives: Debian's chromium package, at
# /usr/bin/chromium (playwright-core downloads no browser of its own). Needs root; reused when present.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Its own libraries (GTK 3, NSS, codecs, ...) come as dependencies; recommends (fonts, desktop bits) are not needed headless.
apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
