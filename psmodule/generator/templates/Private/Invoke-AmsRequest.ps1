function Invoke-AmsRequest {
    <#
    .SYNOPSIS
    Makes one call to the amsd API. The only code in the module that talks to amsd.

    .DESCRIPTION
    Builds the URL from the connection, the path (whose segments the caller escaped) and the query;
    sends the body as UTF-8 JSON; authenticates with the connection's key or token; works the same on
    Windows PowerShell 5.1 and PowerShell 7.

    It never throws. It answers an object with Succeeded, Content (the parsed JSON), StatusCode and, on
    failure, ErrorRecord: one record with the id Ams.<Cmdlet>.<status>, a category that follows the
    status, the server's detail as the exception's message and the cmdlet's target as TargetObject,
    which the cmdlet writes (or throws) itself. A throw caught here would still land in $Error, and
    -ErrorAction Ignore must leave $Error untouched.

    Invoke-WebRequest is not used: PowerShell 7.4+ writes its request headers (the key) and bodies (the
    password) to the debug stream, and its ErrorRecords carry the HttpRequestMessage with the
    Authorization header. System.Net.Http.HttpClient is called directly instead, and the module writes
    its own debug lines: method, URL, status, request id and time, never a header or a body.
    #>
    [CmdletBinding()]
    [OutputType([psobject])]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('GET', 'POST', 'PUT', 'PATCH', 'DELETE')]
        [string]
        $Method,

        [Parameter(Mandatory = $true)]
        [string]
        $Path,

        [System.Collections.IDictionary]
        $Query,

        [System.Collections.IDictionary]
        $Body,

        [Parameter(Mandatory = $true)]
        [string]
        $CommandName,

        # What the cmdlet acts on (a computer name, a rule id): the failure's TargetObject.
        [AllowNull()]
        [object]
        $Target,

        [switch]
        $Anonymous,

        # Shorter than the connection's, for calls a person is waiting on (argument completion).
        [int]
        $TimeoutSec = 0,

        [AllowNull()]
        [psobject]
        $Connection = $script:AmsConnection
    )

    if ($null -eq $Connection) {
        $exception = [System.InvalidOperationException]::new('Not connected to an amsd server. Run Connect-AmsServer -Uri <https://server:port> first.')
        $record = [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.NotConnected' -f $CommandName), [System.Management.Automation.ErrorCategory]::ConnectionError, $Target)
        return New-AmsRequestResult -ErrorRecord $record
    }

    $uri = $Connection.Uri.TrimEnd('/') + $Path
    if ($null -ne $Query) {
        $pairs = [System.Collections.Generic.List[string]]::new()
        foreach ($key in $Query.Keys) {
            foreach ($value in @($Query[$key])) {
                if ($null -eq $value) { continue }
                $pairs.Add([uri]::EscapeDataString([string]$key) + '=' + [uri]::EscapeDataString((ConvertTo-AmsQueryValue -Value $value)))
            }
        }
        if ($pairs.Count -gt 0) { $uri = $uri + '?' + ($pairs -join '&') }
    }

    $headers = @{ 'Accept' = 'application/json, application/problem+json' }
    if (-not $Anonymous -and $null -ne $Connection.Token) {
        if ($null -ne $Connection.RefreshToken -and $null -ne $Connection.ExpiresOn -and [datetime]::UtcNow.AddMinutes(2) -ge $Connection.ExpiresOn) {
            Update-AmsAccessToken -Connection $Connection
        }
        $headers['Authorization'] = 'Bearer ' + (ConvertFrom-AmsSecureString -SecureString $Connection.Token)
    }
    $json = $null
    if ($null -ne $Body) {
        # ConvertTo-Json stops at depth 2 unless told otherwise.
        $json = ConvertTo-Json -InputObject (ConvertTo-AmsWireValue -Value $Body) -Depth 10 -Compress
    }

    $answer = Send-AmsHttpRequest -Connection $Connection -Method $Method -Uri $uri -Headers $headers -Json $json -TimeoutSec $TimeoutSec
    $headers = $null
    if ($null -ne $answer.Failure) {
        $record = New-AmsTransportErrorRecord -Answer $answer -CommandName $CommandName -Target $Target -Connection $Connection
        return New-AmsRequestResult -ErrorRecord $record -StatusCode 0
    }

    $isJson = $answer.MediaType -match '^application/(problem\+)?json$'
    if ($answer.StatusCode -ge 200 -and $answer.StatusCode -lt 300) {
        if ($answer.StatusCode -eq 204 -or $answer.Text.Length -eq 0) { return New-AmsRequestResult -Succeeded -StatusCode $answer.StatusCode }
        $content = $null
        if ($isJson) { $content = ConvertFrom-AmsJson -Json $answer.Text }
        if ($null -eq $content) {
            $record = New-AmsNotAmsdErrorRecord -Answer $answer -CommandName $CommandName -Target $Target -Connection $Connection
            return New-AmsRequestResult -ErrorRecord $record -StatusCode $answer.StatusCode
        }
        return New-AmsRequestResult -Succeeded -Content $content -StatusCode $answer.StatusCode
    }

    $problem = $null
    if ($isJson -and $answer.Text.Length -gt 0) { $problem = ConvertFrom-AmsJson -Json $answer.Text }
    if ($null -eq $problem -or $null -eq $problem.PSObject.Properties['status']) {
        $record = New-AmsNotAmsdErrorRecord -Answer $answer -CommandName $CommandName -Target $Target -Connection $Connection
    } else {
        $record = New-AmsProblemErrorRecord -Answer $answer -Problem $problem -CommandName $CommandName -Target $Target
    }
    New-AmsRequestResult -ErrorRecord $record -StatusCode $answer.StatusCode
}

function Get-AmsShouldProcessSubject {
    # "computer authorization rule 'Helpdesk: workstations' (4f1c...)" for -WhatIf and -Confirm. The
    # object is fetched only when a prompt or a -WhatIf line will show it; without its name, its id.
    param(
        [string] $Path,
        [string] $QueryName,
        [string] $Id,
        [string] $Kind,
        [string] $NameProperty,
        [string] $ConfirmImpact,
        [string] $CommandName
    )
    $subject = '{0} {1}' -f $Kind, $Id
    $ranks = @{ None = 0; Low = 1; Medium = 2; High = 3 }
    $prompts = $WhatIfPreference -or ([string]$ConfirmPreference -ne 'None' -and $ranks[$ConfirmImpact] -ge $ranks[[string]$ConfirmPreference])
    if (-not $prompts) { return $subject }
    $current = Invoke-AmsRequest -Method 'GET' -Path $Path -Query @{ $QueryName = $Id } -CommandName $CommandName -Target $Id
    if ($current.Succeeded) {
        $object = $current.Content
        $items = Get-AmsProperty -InputObject $object -Name 'items'
        if ($null -ne $items) { $object = @($items)[0] }
        $name = Get-AmsProperty -InputObject $object -Name $NameProperty
        if ($name) { return "{0} '{1}' ({2})" -f $Kind, $name, $Id }
    }
    $subject
}

function New-AmsRequestResult {
    param([switch] $Succeeded, [AllowNull()] [object] $Content, [int] $StatusCode = 0, [System.Management.Automation.ErrorRecord] $ErrorRecord)
    [pscustomobject]@{
        Succeeded   = $Succeeded.IsPresent
        Content     = $Content
        StatusCode  = $StatusCode
        ErrorRecord = $ErrorRecord
    }
}

function Get-AmsProperty {
    # A property's value, or $null when the object has no such property (Set-StrictMode safe).
    param([AllowNull()] [object] $InputObject, [string] $Name)
    if ($null -eq $InputObject) { return $null }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    $property.Value
}

function ConvertFrom-AmsJson {
    # JSON to objects with every string kept a string (PowerShell 7 would make [datetime]s of strings
    # shaped like dates: a note, a description, a password). $null for text that is not JSON.
    param([string] $Json)
    if ($PSVersionTable.PSEdition -ne 'Core') {
        # 5.1's JSON reader leaves ISO 8601 strings as strings.
        try { return ConvertFrom-Json -InputObject $Json -ErrorAction Stop } catch { return $null }
    }
    $document = $null
    try {
        $document = [System.Text.Json.JsonDocument]::Parse($Json)
    } catch {
        return $null
    }
    try {
        ConvertFrom-AmsJsonElement -Element $document.RootElement
    } finally {
        $document.Dispose()
    }
}

function ConvertFrom-AmsJsonElement {
    param([System.Text.Json.JsonElement] $Element)
    switch ($Element.ValueKind.ToString()) {
        'Object' {
            $properties = [ordered]@{}
            foreach ($property in $Element.EnumerateObject()) { $properties[$property.Name] = ConvertFrom-AmsJsonElement -Element $property.Value }
            return [pscustomobject]$properties
        }
        'Array' {
            # The comma keeps an array of one (or none) an array.
            return , @(foreach ($item in $Element.EnumerateArray()) { ConvertFrom-AmsJsonElement -Element $item })
        }
        'String' { return $Element.GetString() }
        'Number' {
            $integer = 0L
            if ($Element.TryGetInt64([ref]$integer)) { return $integer }
            return $Element.GetDouble()
        }
        'True' { return $true }
        'False' { return $false }
        default { return $null }
    }
}

function ConvertFrom-AmsSecureString {
    # Works on 5.1 and 7 alike (ConvertFrom-SecureString -AsPlainText is 7 only).
    param([System.Security.SecureString] $SecureString)
    if ($null -eq $SecureString) { return $null }
    [System.Management.Automation.PSCredential]::new('amsd', $SecureString).GetNetworkCredential().Password
}

function ConvertTo-AmsQueryValue {
    param($Value)
    if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o', [System.Globalization.CultureInfo]::InvariantCulture) }
    if ($Value -is [bool]) { if ($Value) { return 'true' } else { return 'false' } }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { if ($Value.IsPresent) { return 'true' } else { return 'false' } }
    if ($Value -is [System.Security.SecureString]) { return ConvertFrom-AmsSecureString -SecureString $Value }
    [System.Convert]::ToString($Value, [System.Globalization.CultureInfo]::InvariantCulture)
}

function ConvertTo-AmsWireValue {
    # What ConvertTo-Json must see: dates as ISO 8601 strings (5.1 would write \/Date()\/), secrets as
    # plain text (only here, just before sending), switches as booleans, strings without ETS notes.
    param($Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.Collections.IDictionary]) {
        $copy = [ordered]@{}
        foreach ($key in $Value.Keys) { $copy[[string]$key] = ConvertTo-AmsWireValue -Value $Value[$key] }
        return $copy
    }
    if ($Value -is [string]) { return [string]$Value }
    if ($Value -is [System.Collections.IEnumerable]) {
        $items = [System.Collections.Generic.List[object]]::new()
        foreach ($item in $Value) { $items.Add((ConvertTo-AmsWireValue -Value $item)) }
        return , $items.ToArray()
    }
    if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o', [System.Globalization.CultureInfo]::InvariantCulture) }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { return $Value.IsPresent }
    if ($Value -is [System.Security.SecureString]) { return ConvertFrom-AmsSecureString -SecureString $Value }
    $Value
}
