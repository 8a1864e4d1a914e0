function Invoke-AmsRequest {
    <#
    .SYNOPSIS
    Makes one call to the amsd API. The only code in the module that does HTTP.

    .DESCRIPTION
    Builds the URL from the connection, the path (whose segments the caller escaped) and the query;
    sends the body as UTF-8 JSON; authenticates with the connection's key or token; works the same on
    Windows PowerShell 5.1 and PowerShell 7. A refused or failed call throws an ErrorRecord with the id
    Ams.<Cmdlet>.<status>, a category that follows the status and the server's detail in ErrorDetails.
    #>
    [CmdletBinding()]
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

        [switch]
        $Anonymous,

        [psobject]
        $Connection = $script:AmsConnection
    )

    if ($null -eq $Connection) {
        $exception = [System.InvalidOperationException]::new('Not connected to an amsd server. Run Connect-AmsServer -Uri <https://server:port> first.')
        throw [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.NotConnected' -f $CommandName), [System.Management.Automation.ErrorCategory]::ConnectionError, $null)
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

    $headers = @{}
    if (-not $Anonymous -and $null -ne $Connection.Token) {
        if ($null -ne $Connection.RefreshToken -and $null -ne $Connection.ExpiresOn -and [datetime]::UtcNow.AddMinutes(2) -ge $Connection.ExpiresOn) {
            Update-AmsAccessToken -Connection $Connection
        }
        $headers['Authorization'] = 'Bearer ' + (ConvertFrom-AmsSecureString -SecureString $Connection.Token)
    }

    $request = @{
        Method      = $Method
        Uri         = $uri
        Headers     = $headers
        UserAgent   = 'AccessManager/{0} PowerShell/{1}' -f $MyInvocation.MyCommand.Module.Version, $PSVersionTable.PSVersion
        ErrorAction = 'Stop'
    }
    if ($null -ne $Body) {
        # ConvertTo-Json stops at depth 2 unless told otherwise; 5.1 would send a string in the system
        # code page, so the body goes as UTF-8 bytes with the charset said.
        $json = ConvertTo-Json -InputObject (ConvertTo-AmsWireValue -Value $Body) -Depth 10 -Compress
        $request['Body'] = [System.Text.Encoding]::UTF8.GetBytes($json)
        $request['ContentType'] = 'application/json; charset=utf-8'
    }

    $desktop = $PSVersionTable.PSEdition -ne 'Core'
    $previousCallback = $null
    if ($desktop) {
        # Windows PowerShell 5.1: no -SkipCertificateCheck, TLS 1.2 not always on, and the IE engine
        # unless told to parse the response itself.
        $request['UseBasicParsing'] = $true
        [System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
        if ($Connection.SkipCertificateCheck) {
            Initialize-AmsCertificateBypass
            $previousCallback = [System.Net.ServicePointManager]::ServerCertificateValidationCallback
            [System.Net.ServicePointManager]::ServerCertificateValidationCallback = [AmsCertificateBypass]::Callback
        }
    } elseif ($Connection.SkipCertificateCheck) {
        $request['SkipCertificateCheck'] = $true
    }

    Write-Verbose ('{0} {1}' -f $Method, $uri)
    try {
        if ($desktop) {
            # 5.1's JSON reader leaves ISO 8601 strings as strings.
            Invoke-RestMethod @request
        } else {
            # PowerShell 7's Invoke-RestMethod turns every string that looks like a date into a
            # [datetime], so a note, a description or a password shaped like one would come back
            # changed. The body is read as text and parsed without that (dates typed as such in the
            # contract are converted later, by ConvertTo-AmsOutput).
            $response = Invoke-WebRequest @request
            if ($response.Content) { ConvertFrom-AmsJson -Json ([string]$response.Content) }
        }
    } catch {
        throw (ConvertTo-AmsErrorRecord -Failure $_ -CommandName $CommandName -Uri $uri)
    } finally {
        if ($desktop -and $Connection.SkipCertificateCheck) {
            [System.Net.ServicePointManager]::ServerCertificateValidationCallback = $previousCallback
        }
    }
}

function ConvertFrom-AmsJson {
    # PowerShell 7 only: JSON to objects with every string kept a string.
    param([string] $Json)
    if ((Get-Command -Name ConvertFrom-Json).Parameters.ContainsKey('DateKind')) {
        return ConvertFrom-Json -InputObject $Json -DateKind String   # 7.5 and later
    }
    $document = [System.Text.Json.JsonDocument]::Parse($Json)
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

function Initialize-AmsCertificateBypass {
    # A compiled callback: a script block would need a runspace on the thread that validates.
    if ($null -eq ('AmsCertificateBypass' -as [type])) {
        Add-Type -TypeDefinition @'
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

public static class AmsCertificateBypass
{
    public static readonly RemoteCertificateValidationCallback Callback = AcceptAny;

    private static bool AcceptAny(object sender, X509Certificate certificate, X509Chain chain, SslPolicyErrors errors)
    {
        return true;
    }
}
'@
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

function Get-AmsErrorCategory {
    param([int] $Status)
    switch ($Status) {
        0 { return [System.Management.Automation.ErrorCategory]::ConnectionError }
        400 { return [System.Management.Automation.ErrorCategory]::InvalidArgument }
        401 { return [System.Management.Automation.ErrorCategory]::AuthenticationError }
        403 { return [System.Management.Automation.ErrorCategory]::PermissionDenied }
        404 { return [System.Management.Automation.ErrorCategory]::ObjectNotFound }
        408 { return [System.Management.Automation.ErrorCategory]::OperationTimeout }
        409 { return [System.Management.Automation.ErrorCategory]::ResourceExists }
        422 { return [System.Management.Automation.ErrorCategory]::InvalidData }
        429 { return [System.Management.Automation.ErrorCategory]::LimitsExceeded }
        501 { return [System.Management.Automation.ErrorCategory]::NotImplemented }
        504 { return [System.Management.Automation.ErrorCategory]::OperationTimeout }
    }
    if ($Status -ge 500) { return [System.Management.Automation.ErrorCategory]::ResourceUnavailable }
    [System.Management.Automation.ErrorCategory]::NotSpecified
}

function Get-AmsRetryAfter {
    param($Response)
    if ($null -eq $Response) { return $null }
    try {
        if ($Response.Headers -is [System.Net.WebHeaderCollection]) { return $Response.Headers['Retry-After'] }
        if ($null -ne $Response.Headers.RetryAfter) {
            if ($null -ne $Response.Headers.RetryAfter.Delta) { return [string][int]$Response.Headers.RetryAfter.Delta.TotalSeconds }
            return [string]$Response.Headers.RetryAfter
        }
    } catch {
        return $null
    }
    $null
}

function ConvertTo-AmsErrorRecord {
    # Turns what Invoke-RestMethod threw (WebException on 5.1, HttpResponseException on 7, or no
    # answer at all) and the problem+json body into one ErrorRecord.
    param(
        [System.Management.Automation.ErrorRecord] $Failure,
        [string] $CommandName,
        [string] $Uri
    )
    $response = $Failure.Exception.Response
    $status = 0
    if ($null -ne $response) { $status = [int]$response.StatusCode }

    $problem = $null
    if ($null -ne $Failure.ErrorDetails -and $Failure.ErrorDetails.Message) {
        try { $problem = ConvertFrom-Json -InputObject $Failure.ErrorDetails.Message -ErrorAction Stop } catch { $problem = $null }
    }

    $lines = [System.Collections.Generic.List[string]]::new()
    if ($status -eq 0) {
        $lines.Add(('Cannot reach the amsd server at {0}: {1}' -f $Uri, $Failure.Exception.Message))
    } elseif ($null -ne $problem -and $problem.PSObject.Properties['detail']) {
        $lines.Add([string]$problem.detail)
    } elseif ($null -ne $problem -and $problem.PSObject.Properties['title']) {
        $lines.Add([string]$problem.title)
    } else {
        $lines.Add($Failure.Exception.Message)
    }
    if ($null -ne $problem) {
        foreach ($codeName in @('code', 'resultCode')) {
            $code = $problem.PSObject.Properties[$codeName]
            if ($null -ne $code -and $code.Value -and -not $lines[0].Contains([string]$code.Value)) {
                $lines[0] = '{0} ({1})' -f $lines[0], $code.Value
            }
        }
        if ($problem.PSObject.Properties['errors']) {
            foreach ($fieldError in @($problem.errors)) { $lines.Add(('  {0}: {1}' -f $fieldError.path, $fieldError.message)) }
        }
        if ($problem.PSObject.Properties['candidates']) {
            $lines.Add('Candidates:')
            foreach ($candidate in @($problem.candidates)) {
                $lines.Add('  ' + (($candidate.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value }) -join ', '))
            }
        }
        if ($problem.PSObject.Properties['requestId']) { $lines.Add(('Request id: {0}' -f $problem.requestId)) }
    }
    $message = $lines -join [System.Environment]::NewLine

    $category = Get-AmsErrorCategory -Status $status
    if ($status -eq 409 -and $null -ne $problem -and $problem.PSObject.Properties['candidates']) {
        # Not a resource that exists: a name that matches several devices.
        $category = [System.Management.Automation.ErrorCategory]::InvalidArgument
    }
    $errorId = 'Ams.{0}.{1}' -f $CommandName, $(if ($status -eq 0) { 'ConnectionError' } else { [string]$status })
    $target = $Uri
    if ($null -ne $problem) { $target = $problem }
    $record = [System.Management.Automation.ErrorRecord]::new($Failure.Exception, $errorId, $category, $target)
    $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($message)
    switch ($status) {
        0 { $record.ErrorDetails.RecommendedAction = 'Check the server address and that amsd is running; Get-AmsConnection shows the address in use.' }
        401 { $record.ErrorDetails.RecommendedAction = 'Connect again with Connect-AmsServer: the key or token is missing, wrong, revoked or expired.' }
        429 {
            $retryAfter = Get-AmsRetryAfter -Response $response
            if ($retryAfter) { $record.ErrorDetails.RecommendedAction = 'Try again in {0} seconds.' -f $retryAfter }
        }
    }
    $record
}
