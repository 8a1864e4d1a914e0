#!/usr/bin/env bash
# Installs what the module's Pester suite runs in, into ignored project-local folders, reused when
# present: PowerShell 7.6.9 (the .NET tool, .tools/pwsh/pwsh) and Pester 5.7.1 (.tools/nuget/pester).
# Both come from NuGet; the machine needs the .NET SDK. `npm test` finds them there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
PWSH_VERSION=7.6.9
PESTER_VERSION=5.7.1

if [ -x "$TOOLS/pwsh/pwsh" ] && "$TOOLS/pwsh/pwsh" -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()' 2>/dev/null | grep -qx "$PWSH_VERSION"; then
  echo "PowerShell $PWSH_VERSION: already in $TOOLS/pwsh"
else
  rm -rf "$TOOLS/pwsh"
  # Only this version is served by the registry this project installs from: name it.
  dotnet tool install PowerShell --version "$PWSH_VERSION" --tool-path "$TOOLS/pwsh"
fi

if [ -f "$TOOLS/nuget/pester/$PESTER_VERSION/tools/Pester.psd1" ]; then
  echo "Pester $PESTER_VERSION: already in $TOOLS/nuget"
else
  # Pester is a content package: a throwaway project downloads it into the package folder.
  mkdir -p "$TOOLS/pester-restore"
  cat > "$TOOLS/pester-restore/pester.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$PESTER_VERSION]" /></ItemGroup>
</Project>
XML
  dotnet restore "$TOOLS/pester-restore/pester.csproj" --packages "$TOOLS/nuget" -nologo -v q
fi
"$TOOLS/pwsh/pwsh" -NoProfile -NonInteractive -Command "Import-Module '$TOOLS/nuget/pester/$PESTER_VERSION/tools/Pester.psd1'; 'PowerShell ' + \$PSVersionTable.PSVersion + ', Pester ' + (Get-Module Pester).Version"
