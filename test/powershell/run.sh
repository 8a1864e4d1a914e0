#!/usr/bin/env bash
# The generated module in the PowerShell 7 engine: builds tools/amspwsh (System.Management.Automation
# from NuGet with stand-in command modules; pwsh itself is not installable from this machine's
# registries) into .build/amspwsh, starts `amsd demo` from dist/ on a fresh data directory, runs
# module.smoke.ps1 against it and stops the demo. Its last line is "N passed, N failed, N skipped";
# the exit code is the smoke test's. Needs `npm run build` first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HOST="$ROOT/.build/amspwsh"
WORK="$(mktemp -d)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if ! dotnet publish "$ROOT/tools/amspwsh/AmsPwsh/AmsPwsh.csproj" -c Release -o "$HOST" -v q -nologo > "$WORK/build.log" 2>&1; then
  cat "$WORK/build.log"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

node "$ROOT/dist/daemon/cli.js" demo --port 0 --data-dir "$WORK/demo" > "$WORK/demo.log" 2>&1 &
DEMO_PID=$!
trap 'kill $DEMO_PID 2>/dev/null || true; wait $DEMO_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 60); do [ -s "$WORK/demo/demo.json" ] && break; sleep 0.5; done
if [ ! -s "$WORK/demo/demo.json" ]; then
  echo "amsd demo did not start:"; cat "$WORK/demo.log"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

"$HOST/AmsPwsh" -NoProfile -NonInteractive -File "$ROOT/test/powershell/module.smoke.ps1" -DemoJson "$WORK/demo/demo.json"
