# Argument completers: -ComputerName from the daemon's devices, -TenantId from its tenants, rule ids
# from its rules. Each asks the connected daemon at most once a minute (a short timeout, one page),
# so that Tab stays quick; without a connection, or when the daemon refuses, they offer nothing.
$script:AmsCompletionCache = @{}

function Get-AmsCompletionItems {
    param([string] $Key, [string] $Path, [hashtable] $Query)
    $connection = $script:AmsConnection
    if ($null -eq $connection) { return @() }
    $cacheKey = $connection.Uri + '|' + $Key
    $cached = $script:AmsCompletionCache[$cacheKey]
    if ($null -ne $cached -and $cached.At -gt [datetime]::UtcNow.AddMinutes(-1)) { return $cached.Items }
    $result = Invoke-AmsRequest -Method 'GET' -Path $Path -Query $Query -CommandName 'ArgumentCompleter' -TimeoutSec 3
    $items = @()
    if ($result.Succeeded) { $items = @(Get-AmsProperty -InputObject $result.Content -Name 'items' | Where-Object { $null -ne $_ }) }
    $script:AmsCompletionCache[$cacheKey] = @{ At = [datetime]::UtcNow; Items = $items }
    $items
}

function New-AmsCompletions {
    param([object[]] $Items, [string] $ValueProperty, [string] $ToolTipProperty, [string] $WordToComplete)
    $word = $WordToComplete.Trim([char]39, [char]34)
    foreach ($item in $Items) {
        $value = [string](Get-AmsProperty -InputObject $item -Name $ValueProperty)
        if (-not $value -or -not $value.StartsWith($word, [System.StringComparison]::OrdinalIgnoreCase)) { continue }
        $tip = [string](Get-AmsProperty -InputObject $item -Name $ToolTipProperty)
        if (-not $tip) { $tip = $value }
        $text = $(if ($value -match '[\s''"`$;,(){}@&|<>#]') { "'" + $value.Replace("'", "''") + "'" } else { $value })
        [System.Management.Automation.CompletionResult]::new($text, $value, [System.Management.Automation.CompletionResultType]::ParameterValue, $tip)
    }
}

function Complete-AmsComputerName {
    param([string] $WordToComplete)
    # One page of the device list (the first 200 names): enough to complete a prefix quickly.
    $devices = Get-AmsCompletionItems -Key 'devices' -Path '/v1/devices' -Query @{ top = 200 }
    New-AmsCompletions -Items $devices -ValueProperty 'deviceName' -ToolTipProperty 'operatingSystem' -WordToComplete $WordToComplete |
        Sort-Object -Property CompletionText -Unique
}

function Complete-AmsTenantId {
    param([string] $WordToComplete)
    $tenants = Get-AmsCompletionItems -Key 'tenants' -Path '/v1/tenants' -Query @{}
    New-AmsCompletions -Items $tenants -ValueProperty 'tenantId' -ToolTipProperty 'displayName' -WordToComplete $WordToComplete
}

function Complete-AmsRuleId {
    param([string] $WordToComplete)
    $rules = Get-AmsCompletionItems -Key 'rules' -Path '/v1/computer-authorization-rules' -Query @{}
    New-AmsCompletions -Items $rules -ValueProperty 'id' -ToolTipProperty 'description' -WordToComplete $WordToComplete
}
