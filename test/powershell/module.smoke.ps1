# The generated AccessManager module in the PowerShell 7 engine, against a running `amsd demo`.
#   AmsPwsh -NoProfile -NonInteractive -File module.smoke.ps1 [-ModulePath <dir>] [-DemoJson <demo.json>]
# (test/powershell/run.sh builds the host, starts the demo and runs this.) Without -DemoJson only the
# offline checks run (import, commands, help); the live ones are skipped. The engine is the real one
# (System.Management.Automation from NuGet); the Utility/Management/Security cmdlets are stand-ins
# (tools/amspwsh), since pwsh itself is not installable here. Last line: "N passed, N failed,
# N skipped"; exit code 1 if anything failed, else 0.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '../../psmodule/AccessManager'),
    [string] $DemoJson
)

$script:passed = 0
$script:failed = 0
$script:skipped = 0

function Test-Step {
    param([string] $Name, [scriptblock] $Check)
    $ok = $false
    $detail = ''
    try {
        $result = & $Check
        $ok = [bool]($result | Select-Object -Last 1)
        if (-not $ok) { $detail = 'check returned false' }
    } catch {
        $detail = '{0} [{1}]' -f $_.Exception.Message, $_.FullyQualifiedErrorId
    }
    if ($ok) { $script:passed++; Write-Host "ok    $Name" }
    else { $script:failed++; Write-Host "FAIL  $Name -- $detail" }
}

function Skip-Step([string] $Name) { $script:skipped++; Write-Host "skip  $Name (no -DemoJson)" }

# ---------------------------------------------------------------- offline: import, commands, help
Write-Host '== import'
$importWarnings = $null
$importErrors = $null
Import-Module $ModulePath -Force -WarningVariable importWarnings -ErrorVariable importErrors
Test-Step 'Import-Module without warnings' { -not $importWarnings }
Test-Step 'Import-Module without errors' { -not $importErrors }

$manifest = Import-PowerShellDataFile (Join-Path $ModulePath 'AccessManager.psd1')
$commands = @(Get-Command -Module AccessManager)
Write-Host ('Get-Command -Module AccessManager: {0} commands' -f $commands.Count)
$commands | Format-Table CommandType, Name, Version, Source -AutoSize | Out-String -Width 120 | Write-Host
Test-Step 'every FunctionsToExport is a command' {
    $missing = @($manifest.FunctionsToExport | Where-Object { $_ -notin $commands.Name })
    if ($missing) { throw ('missing: ' + ($missing -join ', ')) }
    $commands.Count -eq $manifest.FunctionsToExport.Count
}

Write-Host '== Get-Help Get-AmsLocalAdminPassword -Full'
$help = Get-Help Get-AmsLocalAdminPassword -Full
$help | Out-String -Width 120 | Write-Host
Test-Step 'help has a synopsis (not the syntax)' { $help.Synopsis -and $help.Synopsis -notmatch '^Get-AmsLocalAdminPassword\s+[\[-]' }
Test-Step 'help has a description' { ($help.description | Out-String).Trim().Length -gt 20 }
Test-Step 'help has examples' { @($help.examples.example).Count -ge 1 }
$params = (Get-Command Get-AmsLocalAdminPassword).Parameters.Keys
Write-Host ('Parameters: ' + ($params -join ', '))
Test-Step 'parameters ComputerName, DeviceId, TenantId, Reason, AsPlainText' {
    @('ComputerName', 'DeviceId', 'TenantId', 'Reason', 'AsPlainText' | Where-Object { $_ -notin $params }).Count -eq 0
}
Test-Step 'every parameter of Get-AmsLocalAdminPassword has a help description' {
    $documented = @($help.parameters.parameter | Where-Object { ($_.description | Out-String).Trim() } | ForEach-Object name)
    @('ComputerName', 'DeviceId', 'TenantId', 'Reason', 'AsPlainText' | Where-Object { $_ -notin $documented }).Count -eq 0
}
Test-Step 'every command has synopsis, description, an example and documented parameters' {
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    $problems = foreach ($c in $commands) {
        $h = Get-Help $c.Name -Full
        if (-not $h.Synopsis -or $h.Synopsis -match ('^' + [regex]::Escape($c.Name) + '\s+[\[-]')) { "$($c.Name): no synopsis" }
        if (-not ($h.description | Out-String).Trim()) { "$($c.Name): no description" }
        if (@($h.examples.example).Count -lt 1) { "$($c.Name): no example" }
        $documented = @($h.parameters.parameter | Where-Object { ($_.description | Out-String).Trim() } | ForEach-Object name)
        foreach ($p in $c.Parameters.Keys) { if ($p -notin $common -and $p -notin $documented) { "$($c.Name): -$p undocumented" } }
    }
    if ($problems) { throw ($problems -join '; ') }
    $true
}
Test-Step 'format views are loaded (Ams.Device has a table view)' {
    # AccessManager.format.ps1xml is in FormatsToProcess; Get-FormatData is not available, so render one.
    $device = [pscustomobject]@{ DeviceName = 'PC-X'; DeviceId = 'd'; ObjectId = 'o'; TenantId = 't'; OperatingSystem = 'Windows'; TrustType = 'AzureAd'; ApproximateLastSignInDateTime = $null }
    $device.PSObject.TypeNames.Insert(0, 'Ams.Device')
    $text = $device | Out-String
    $text -match 'DeviceName\s+OperatingSystem\s+TrustType'
}
Test-Step 'without a connection: Ams.<Cmdlet>.NotConnected' {
    Disconnect-AmsServer
    $e = $null
    try { Get-AmsHealth -ErrorAction Stop } catch { $e = $_ }
    $e.FullyQualifiedErrorId -like 'Ams.Get-AmsHealth.NotConnected*' -and $e.CategoryInfo.Category -eq 'ConnectionError'
}

if (-not $DemoJson) {
    foreach ($n in 'connect', 'SecureString password', 'plain password = HTTP API', 'refused device', 'rules as admin', 'audit', 'import -WhatIf', 'known bugs (live)') { Skip-Step $n }
} else {
    # ------------------------------------------------------------ live: against `amsd demo`
    $demo = Get-Content -Path $DemoJson -Raw | ConvertFrom-Json
    $userKeyText = (Get-Content -Path $demo.userKeyFile -Raw).Trim()
    $userKey = $userKeyText | ConvertTo-SecureString -AsPlainText -Force
    $adminKey = (Get-Content -Path $demo.adminKeyFile -Raw).Trim() | ConvertTo-SecureString -AsPlainText -Force
    $allowed = $demo.allowedDevices[0]
    $denied = $demo.deniedDevices[0]

    Write-Host "== live: $($demo.url)"
    Test-Step 'Connect-AmsServer -ApiKey (user)' {
        $c = Connect-AmsServer -Uri $demo.url -ApiKey $userKey
        $c | Out-String | Write-Host
        $c.Role -eq 'user' -and $c.AuthenticationType -eq 'ApiKey'
    }
    $secure = $null
    Test-Step "Get-AmsDevice -Name $allowed | Get-AmsLocalAdminPassword: a SecureString" {
        $script:secure = Get-AmsDevice -Name $allowed | Get-AmsLocalAdminPassword
        $script:secure | Format-List | Out-String | Write-Host
        $script:secure.PSObject.TypeNames[0] -eq 'Ams.LocalAdminPassword' -and $script:secure.Password -is [securestring] -and $script:secure.DeviceName -eq $allowed
    }
    Test-Step 'Get-AmsLocalAdminPassword -AsPlainText equals what the HTTP API returns (read by node, not by PowerShell)' {
        $plain = Get-AmsDevice -Name $allowed | Get-AmsLocalAdminPassword -AsPlainText
        $raw = & node (Join-Path $PSScriptRoot 'read-password.mjs') $demo.url $demo.userKeyFile $allowed
        if ($LASTEXITCODE -ne 0) { throw "node failed with $LASTEXITCODE" }
        $api = $raw | ConvertFrom-Json
        $fromSecure = [System.Net.NetworkCredential]::new('', $script:secure.Password).Password
        Write-Host ("plain: {0}  api: {1}" -f $plain.Password, $api.password)
        $plain.Password -is [string] -and $plain.Password -ceq $api.password -and $fromSecure -ceq $api.password -and $plain.Account -eq $api.account
    }
    Test-Step "refused device $($denied.deviceName): ErrorRecord Ams.Get-AmsLocalAdminPassword.403 naming $($denied.code)" {
        $e = $null
        try { Get-AmsLocalAdminPassword -ComputerName $denied.deviceName -ErrorAction Stop } catch { $e = $_ }
        $e | Out-String | Write-Host
        Write-Host ('FullyQualifiedErrorId: ' + $e.FullyQualifiedErrorId)
        $e -is [System.Management.Automation.ErrorRecord] -and
            $e.FullyQualifiedErrorId -like 'Ams.Get-AmsLocalAdminPassword.403*' -and
            $e.CategoryInfo.Category -eq 'PermissionDenied' -and
            $e.ErrorDetails.Message -like "*$($denied.code)*" -and
            $e.TargetObject.code -eq $denied.code -and
            [int]$e.Exception.Response.StatusCode -eq 403
    }
    Test-Step 'refused device without -ErrorAction: non-terminating, the last error is the Ams one' {
        $ev = $null
        $out = Get-AmsLocalAdminPassword -ComputerName $denied.deviceName -ErrorAction SilentlyContinue -ErrorVariable ev
        # -ErrorVariable also holds the errors caught inside the module (Invoke-RestMethod's, rethrown ones).
        Write-Host ('-ErrorVariable holds {0} records: {1}' -f $ev.Count, (($ev | ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.FullyQualifiedErrorId } else { $_.GetType().Name } }) -join ' | '))
        $null -eq $out -and $ev[-1].FullyQualifiedErrorId -like 'Ams.Get-AmsLocalAdminPassword.403*'
    }

    Test-Step 'Connect-AmsServer -ApiKey (admin)' { (Connect-AmsServer -Uri $demo.url -ApiKey $adminKey).Role -eq 'admin' }
    $description = 'AmsPwsh smoke ' + [guid]::NewGuid().ToString('N')
    Test-Step 'New-AmsComputerAuthorizationRule' {
        $rule = New-AmsComputerAuthorizationRule -TenantId $demo.tenant.tenantId -Description $description -GroupId 'All-Workstations' -PrincipalsAllowedLaps 'AMS-Helpdesk' -UserRequestReasonRequirement Optional -RuleExpiryDate (Get-Date).AddDays(7)
        $rule | Format-List | Out-String | Write-Host
        $rule.PSObject.TypeNames[0] -eq 'Ams.ComputerAuthorizationRule' -and $rule.Description -eq $description -and $rule.RuleExpiryDate -is [datetime]
    }
    Test-Step 'Get-AmsComputerAuthorizationRule | Where-Object Description -eq ... | Remove-AmsComputerAuthorizationRule -Confirm:$false' {
        $before = @(Get-AmsComputerAuthorizationRule | Where-Object Description -eq $description)
        $removed = Get-AmsComputerAuthorizationRule | Where-Object Description -eq $description | Remove-AmsComputerAuthorizationRule -Confirm:$false
        $after = @(Get-AmsComputerAuthorizationRule | Where-Object Description -eq $description)
        $before.Count -eq 1 -and $after.Count -eq 0 -and $null -eq $removed
    }
    Test-Step 'Get-AmsAuditEvent -First 5' {
        $events = @(Get-AmsAuditEvent -First 5)
        $events | Format-Table | Out-String -Width 160 | Write-Host
        $events.Count -eq 5 -and @($events | Where-Object { $_.PSObject.TypeNames[0] -ne 'Ams.AuditEvent' }).Count -eq 0 -and
            @($events | Where-Object Type -eq 'rule.deleted').Count -ge 1
    }
    Test-Step 'Import-AmsComputerAuthorizationRule -Path docs/rules-import-sample.csv -WhatIf: a dry run, nothing created' {
        $sample = Join-Path $PSScriptRoot '../../docs/rules-import-sample.csv'
        $rulesBefore = @(Get-AmsComputerAuthorizationRule).Count
        $result = Import-AmsComputerAuthorizationRule -Path $sample -WhatIf
        $rulesAfter = @(Get-AmsComputerAuthorizationRule).Count
        Write-Host ('DryRun={0} Items={1} rules before/after={2}/{3}' -f $result.DryRun, @($result.Items).Count, $rulesBefore, $rulesAfter)
        $result.DryRun -eq $true -and @($result.Items).Count -eq 4 -and $rulesBefore -eq $rulesAfter
    }

    Write-Host '== bugs found here once, kept as tests'
    Test-Step 'free-text strings that look like ISO dates stay strings (Description, Notes)' {
        $text = '2027-04-01T00:00:00+02:00'
        $rule = New-AmsComputerAuthorizationRule -TenantId $demo.tenant.tenantId -Description ('AmsPwsh date ' + [guid]::NewGuid()) -GroupId 'All-Workstations' -PrincipalsAllowedLaps 'AMS-Helpdesk' -Notes $text
        try {
            Write-Host ('Notes came back as [{0}] {1}' -f $rule.Notes.GetType().Name, $rule.Notes)
            $again = $rule | Set-AmsComputerAuthorizationRule -Notes $rule.Notes
            Write-Host ('after Get -> Set round trip the server holds: {0}' -f $again.Notes)
            $rule.Notes -is [string] -and $rule.Notes -eq $text -and $again.Notes -eq $text
        } finally {
            $rule | Remove-AmsComputerAuthorizationRule -Force
        }
    }
    Test-Step 'Import-AmsComputerAuthorizationRule -Path <missing file>: a non-terminating Ams.* error' {
        $caught = $null
        $continued = $false
        try {
            Import-AmsComputerAuthorizationRule -Path (Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-rules.csv') -ErrorAction SilentlyContinue -ErrorVariable ev
            $continued = $true
        } catch { $caught = $_ }
        if ($caught) { Write-Host ('thrown past -ErrorAction SilentlyContinue: ' + $caught.FullyQualifiedErrorId) }
        $continued -and $ev[-1].FullyQualifiedErrorId -like 'Ams.Import-AmsComputerAuthorizationRule.*'
    }
    Test-Step 'paged cmdlets stop requesting once -First is reached' {
        $gets = @(Get-AmsAuditEvent -First 2 -PageSize 2 -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'GET *' })
        $gets | ForEach-Object { Write-Host $_.Message }
        $gets.Count -eq 1
    }
}

Write-Host ''
Write-Host ('{0} passed, {1} failed, {2} skipped' -f $script:passed, $script:failed, $script:skipped)
if ($script:failed -gt 0) { exit 1 }
exit 0
