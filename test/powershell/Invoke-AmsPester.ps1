# Runs the module's Pester suite (test/powershell/*.Tests.ps1) in real PowerShell and writes one JSON
# line per test to -ResultFile, which test/powershell/pester.test.ts turns into tap assertions.
#   pwsh -NoProfile -NonInteractive -File Invoke-AmsPester.ps1 -Pester <Pester.psd1> -DemoJson <demo.json> -ResultFile <file>
# The suites find the demo through $env:AMS_DEMO_JSON. Exit code: the number of failed tests (a file
# that cannot be run counts as one).
param(
    [Parameter(Mandatory = $true)] [string] $Pester,
    [Parameter(Mandatory = $true)] [string] $DemoJson,
    [Parameter(Mandatory = $true)] [string] $ResultFile,
    [string] $Path = $PSScriptRoot
)
$ErrorActionPreference = 'Stop'
Import-Module $Pester
$env:AMS_DEMO_JSON = $DemoJson

$configuration = New-PesterConfiguration
$configuration.Run.Path = @(Get-ChildItem -Path $Path -Filter '*.Tests.ps1' | ForEach-Object FullName)
$configuration.Run.PassThru = $true
$configuration.Output.Verbosity = 'Detailed'
$result = Invoke-Pester -Configuration $configuration

$lines = foreach ($test in $result.Tests) {
    $message = $null
    if ($test.ErrorRecord.Count -gt 0) { $message = ($test.ErrorRecord | ForEach-Object { $_.Exception.Message }) -join [Environment]::NewLine }
    [ordered]@{
        name    = $test.ExpandedPath
        result  = [string]$test.Result
        message = $message
    } | ConvertTo-Json -Compress -Depth 3
}
# A container that failed to run (a syntax error, a failing BeforeAll) is a failure too.
foreach ($container in $result.Containers | Where-Object { $_.Result -eq 'Failed' -and $_.ErrorRecord.Count -gt 0 }) {
    [ordered]@{
        name    = 'container ' + $container.Item
        result  = 'Failed'
        message = ($container.ErrorRecord | ForEach-Object { $_.Exception.Message }) -join [Environment]::NewLine
    } | ConvertTo-Json -Compress -Depth 3 | Set-Variable -Name line
    $lines = @($lines) + $line
}
Set-Content -Path $ResultFile -Value $lines -Encoding utf8
exit @($lines | Where-Object { ($_ | ConvertFrom-Json).result -eq 'Failed' }).Count
