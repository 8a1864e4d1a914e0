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

function Get-AmsHttpClient {
    # One HttpClient per connection, so that its sockets are reused. Redirects are not followed: amsd
    # does not redirect, and a redirect to another host must not take the key along.
    param([Parameter(Mandatory = $true)] [psobject] $Connection)
    if ($null -ne $Connection.HttpClient) { return $Connection.HttpClient }
    if ($PSVersionTable.PSEdition -ne 'Core') {
        Add-Type -AssemblyName 'System.Net.Http'
        # Windows PowerShell 5.1 does not always offer TLS 1.2.
        [System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
    }
    $handler = [System.Net.Http.HttpClientHandler]::new()
    $handler.AllowAutoRedirect = $false
    $handler.UseCookies = $false
    if ($Connection.SkipCertificateCheck -and $PSVersionTable.PSEdition -eq 'Core') {
        $handler.ServerCertificateCustomValidationCallback = [System.Net.Http.HttpClientHandler]::DangerousAcceptAnyServerCertificateValidator
    }
    $client = [System.Net.Http.HttpClient]::new($handler)
    # Each call has its own deadline (-TimeoutSec), through a cancellation token.
    $client.Timeout = [System.Threading.Timeout]::InfiniteTimeSpan
    $Connection.HttpClient = $client
    $client
}

function Wait-AmsTask {
    # Waits for a task without throwing (a faulted task is read by the caller), in short slices so that
    # Ctrl+C, which stops the pipeline between statements, is honoured while waiting.
    param([Parameter(Mandatory = $true)] [System.Threading.Tasks.Task] $Task)
    $tasks = [System.Threading.Tasks.Task[]]@($Task)
    while ([System.Threading.Tasks.Task]::WaitAny($tasks, 200) -lt 0) { }
}

function Send-AmsHttpRequest {
    <#
    .SYNOPSIS
    Sends one HTTP request with the connection's client and deadline; never throws.

    .DESCRIPTION
    Answers StatusCode, MediaType, Text, RetryAfter, RequestId, Authority and, when no answer came,
    Failure (the exception) and TimedOut. Writes one debug line per call, with no header or body in it.
    Used for amsd's API and for Entra ID's device code sign-in alike, so -SkipCertificateCheck and
    -TimeoutSec apply to both.
    #>
    param(
        [Parameter(Mandatory = $true)] [psobject] $Connection,
        [Parameter(Mandatory = $true)] [string] $Method,
        [Parameter(Mandatory = $true)] [string] $Uri,
        [hashtable] $Headers = @{},
        [AllowNull()] [string] $Json,
        [System.Collections.IDictionary] $Form,
        [int] $TimeoutSec = 0
    )
    $client = Get-AmsHttpClient -Connection $Connection
    $target = [uri]$Uri
    $answer = [pscustomobject]@{
        StatusCode = 0
        MediaType  = ''
        Text       = ''
        RetryAfter = $null
        RequestId  = $null
        Authority  = $target.GetLeftPart([System.UriPartial]::Authority)
        Failure    = $null
        TimedOut   = $false
        TimeoutSec = $(if ($TimeoutSec -gt 0) { $TimeoutSec } else { [int]$Connection.TimeoutSec })
    }

    $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::new($Method), $target)
    foreach ($name in $Headers.Keys) { $null = $request.Headers.TryAddWithoutValidation($name, [string]$Headers[$name]) }
    $null = $request.Headers.TryAddWithoutValidation('User-Agent', ('AccessManager/{0} PowerShell/{1}' -f $MyInvocation.MyCommand.Module.Version, $PSVersionTable.PSVersion))
    if ($null -ne $Form) {
        $pairs = [System.Collections.Generic.Dictionary[string, string]]::new()
        foreach ($key in $Form.Keys) { $pairs[[string]$key] = [string]$Form[$key] }
        $request.Content = [System.Net.Http.FormUrlEncodedContent]::new($pairs)
    } elseif (-not [string]::IsNullOrEmpty($Json)) {
        # UTF-8 with the charset said: 5.1 would otherwise send the system code page.
        $request.Content = [System.Net.Http.StringContent]::new($Json, [System.Text.Encoding]::UTF8, 'application/json')
    }
    # A POST without a body goes with no Content-Type at all (Invoke-WebRequest would claim a form).

    $previousCallback = $null
    $desktopBypass = $Connection.SkipCertificateCheck -and $PSVersionTable.PSEdition -ne 'Core'
    if ($desktopBypass) {
        # .NET Framework's HttpClientHandler validates through ServicePointManager.
        Initialize-AmsCertificateBypass
        $previousCallback = [System.Net.ServicePointManager]::ServerCertificateValidationCallback
        [System.Net.ServicePointManager]::ServerCertificateValidationCallback = [AmsCertificateBypass]::Callback
    }
    $timeout = [System.Threading.CancellationTokenSource]::new([timespan]::FromSeconds([Math]::Max(1, $answer.TimeoutSec)))
    $started = [System.Diagnostics.Stopwatch]::StartNew()
    $response = $null
    try {
        $send = $client.SendAsync($request, [System.Net.Http.HttpCompletionOption]::ResponseContentRead, $timeout.Token)
        Wait-AmsTask -Task $send
        if ($send.IsCanceled -or $timeout.IsCancellationRequested) {
            $answer.TimedOut = $true
            $answer.Failure = [System.TimeoutException]::new('No answer in time.')
        } elseif ($send.IsFaulted) {
            $answer.Failure = $send.Exception.GetBaseException()
        } else {
            $response = $send.Result
            $answer.StatusCode = [int]$response.StatusCode
            if ($null -ne $response.Content.Headers.ContentType) { $answer.MediaType = [string]$response.Content.Headers.ContentType.MediaType }
            $read = $response.Content.ReadAsStringAsync()
            Wait-AmsTask -Task $read
            if ($read.IsFaulted -or $read.IsCanceled) {
                $answer.Failure = [System.IO.IOException]::new('The answer could not be read to its end.')
            } else {
                $answer.Text = [string]$read.Result
            }
            $values = $null
            if ($response.Headers.TryGetValues('x-request-id', [ref]$values)) { $answer.RequestId = @($values)[0] }
            $retry = $response.Headers.RetryAfter
            if ($null -ne $retry -and $null -ne $retry.Delta) { $answer.RetryAfter = [int]$retry.Delta.TotalSeconds }
        }
    } finally {
        # Also reached when Ctrl+C stops the pipeline: the request is cancelled, not left running.
        if ($null -eq $response -and -not $timeout.IsCancellationRequested) { $timeout.Cancel() }
        $timeout.Dispose()
        $request.Dispose()
        if ($null -ne $response) { $response.Dispose() }
        if ($desktopBypass) { [System.Net.ServicePointManager]::ServerCertificateValidationCallback = $previousCallback }
        $status = $(if ($answer.StatusCode -gt 0) { [string]$answer.StatusCode } elseif ($answer.TimedOut) { 'timeout' } else { 'no answer' })
        $requestId = $(if ($answer.RequestId) { ', request id ' + $answer.RequestId } else { '' })
        Write-Debug ('AccessManager: {0} {1} -> {2} in {3} ms{4}' -f $Method, $Uri, $status, $started.ElapsedMilliseconds, $requestId)
    }
    $answer
}

function New-AmsErrorRecord {
    param(
        [Parameter(Mandatory = $true)] [string] $Message,
        [Parameter(Mandatory = $true)] [string] $ErrorId,
        [Parameter(Mandatory = $true)] [System.Management.Automation.ErrorCategory] $Category,
        [AllowNull()] [object] $Target,
        [int] $StatusCode = 0,
        [System.Exception] $InnerException,
        [string] $RecommendedAction,
        [hashtable] $Data = @{}
    )
    if ($PSVersionTable.PSEdition -eq 'Core' -and $StatusCode -gt 0) {
        $exception = [System.Net.Http.HttpRequestException]::new($Message, $InnerException, [System.Net.HttpStatusCode]$StatusCode)
    } else {
        $exception = [System.Net.Http.HttpRequestException]::new($Message, $InnerException)
    }
    # Strings only: .NET Framework refuses values it cannot serialize.
    foreach ($key in $Data.Keys) { if ($null -ne $Data[$key]) { $exception.Data[$key] = [string]$Data[$key] } }
    $record = [System.Management.Automation.ErrorRecord]::new($exception, $ErrorId, $Category, $Target)
    $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($Message)
    if ($RecommendedAction) { $record.ErrorDetails.RecommendedAction = $RecommendedAction }
    $record
}

function New-AmsProblemErrorRecord {
    # A problem+json answer of amsd: its detail is the message, every field error and candidate listed.
    param([psobject] $Answer, [psobject] $Problem, [string] $CommandName, [AllowNull()] [object] $Target)
    $status = $Answer.StatusCode
    $lines = [System.Collections.Generic.List[string]]::new()
    $detail = Get-AmsProperty -InputObject $Problem -Name 'detail'
    if (-not $detail) { $detail = Get-AmsProperty -InputObject $Problem -Name 'title' }
    if (-not $detail) { $detail = 'The server answered {0}.' -f $status }
    $code = Get-AmsProperty -InputObject $Problem -Name 'code'
    if ($code -and -not ([string]$detail).Contains([string]$code)) { $detail = '{0} ({1})' -f $detail, $code }
    $lines.Add([string]$detail)
    foreach ($fieldError in @(Get-AmsProperty -InputObject $Problem -Name 'errors')) {
        if ($null -ne $fieldError) { $lines.Add(('  {0}: {1}' -f (Get-AmsProperty $fieldError 'path'), (Get-AmsProperty $fieldError 'message'))) }
    }
    $candidates = @(Get-AmsProperty -InputObject $Problem -Name 'candidates' | Where-Object { $null -ne $_ })
    if ($candidates.Count -gt 0) {
        $lines.Add('Candidates:')
        foreach ($candidate in $candidates) {
            $lines.Add('  ' + (($candidate.PSObject.Properties | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value }) -join ', '))
        }
    }

    $category = Get-AmsErrorCategory -Status $status
    # Not a resource that exists: a name that matches several devices.
    if ($status -eq 409 -and $candidates.Count -gt 0) { $category = [System.Management.Automation.ErrorCategory]::InvalidArgument }
    $requestId = Get-AmsProperty -InputObject $Problem -Name 'requestId'
    if (-not $requestId) { $requestId = $Answer.RequestId }
    $action = switch ($status) {
        401 { 'Connect again with Connect-AmsServer: the key or token is missing, wrong, revoked or expired.' }
        429 { if ($null -ne $Answer.RetryAfter) { 'Try again in {0} seconds.' -f $Answer.RetryAfter } else { 'Try again later.' } }
        default { if ($requestId) { 'Quote request id {0} to the amsd administrator if this is unexpected.' -f $requestId } }
    }
    New-AmsErrorRecord -Message ($lines -join [System.Environment]::NewLine) -ErrorId ('Ams.{0}.{1}' -f $CommandName, $status) -Category $category `
        -Target $Target -StatusCode $status -RecommendedAction $action `
        -Data @{ Status = $status; Code = $code; Type = (Get-AmsProperty $Problem 'type'); RequestId = $requestId; RetryAfter = $Answer.RetryAfter }
}

function New-AmsNotAmsdErrorRecord {
    # An answer that is not amsd's JSON: the address is most likely not an amsd server.
    param([psobject] $Answer, [string] $CommandName, [AllowNull()] [object] $Target, [psobject] $Connection)
    $what = $(if ($Answer.MediaType) { $Answer.MediaType } else { 'no content type' })
    $message = 'The server at {0} answered {1} with {2}, not the JSON amsd answers: is {3} the address of an amsd server?' -f $Answer.Authority, $Answer.StatusCode, $what, $Connection.Uri
    $category = Get-AmsErrorCategory -Status $Answer.StatusCode
    if ($Answer.StatusCode -lt 400) { $category = [System.Management.Automation.ErrorCategory]::InvalidResult }
    New-AmsErrorRecord -Message $message -ErrorId ('Ams.{0}.NotAmsd' -f $CommandName) -Category $category -Target $Target -StatusCode $Answer.StatusCode `
        -RecommendedAction 'Check the address given to Connect-AmsServer -Uri (Get-AmsConnection shows it).' -Data @{ Status = $Answer.StatusCode }
}

function New-AmsTransportErrorRecord {
    # No answer: says why in words an admin can act on (not trusted, refused, unknown name, timeout).
    param([psobject] $Answer, [string] $CommandName, [AllowNull()] [object] $Target, [psobject] $Connection)
    $failure = $Answer.Failure
    $where = $Answer.Authority
    $id = 'ConnectionError'
    $category = [System.Management.Automation.ErrorCategory]::ConnectionError
    $action = 'Check the server address and that amsd is running; Get-AmsConnection shows the address in use.'
    $chain = [System.Collections.Generic.List[System.Exception]]::new()
    for ($e = $failure; $null -ne $e; $e = $e.InnerException) { $chain.Add($e) }
    $tls = $chain | Where-Object { $_ -is [System.Security.Authentication.AuthenticationException] } | Select-Object -First 1
    $socket = $chain | Where-Object { $_ -is [System.Net.Sockets.SocketException] } | Select-Object -First 1
    if ($Answer.TimedOut) {
        $id = 'Timeout'
        $category = [System.Management.Automation.ErrorCategory]::OperationTimeout
        $message = '{0} did not answer within {1} seconds.' -f $where, $Answer.TimeoutSec
        $action = 'Try again, or connect with a longer Connect-AmsServer -TimeoutSec.'
    } elseif ($null -ne $tls -or ($failure -is [System.Net.WebException] -and $failure.Status -eq [System.Net.WebExceptionStatus]::TrustFailure)) {
        $id = 'CertificateNotTrusted'
        $category = [System.Management.Automation.ErrorCategory]::SecurityError
        $reason = $(if ($null -ne $tls) { $tls.Message } else { $failure.Message })
        $message = 'The certificate of {0} is not trusted: {1}' -f $where, $reason
        $action = 'Trust the certificate authority that issued it on this machine; for a test server only, connect with -SkipCertificateCheck.'
    } elseif ($null -ne $socket -and $socket.SocketErrorCode -eq [System.Net.Sockets.SocketError]::ConnectionRefused) {
        $message = 'Nothing is listening at {0} (connection refused).' -f $where
        $action = 'Check that amsd is running and the port is right; Get-AmsConnection shows the address in use.'
    } elseif ($null -ne $socket -and $socket.SocketErrorCode -in @([System.Net.Sockets.SocketError]::HostNotFound, [System.Net.Sockets.SocketError]::NoData, [System.Net.Sockets.SocketError]::TryAgain)) {
        $message = 'The name {0} cannot be resolved.' -f ([uri]$where).Host
        $action = 'Check the host name given to Connect-AmsServer -Uri.'
    } elseif ($chain | Where-Object { $_ -is [System.IO.IOException] }) {
        $message = '{0} closed the connection without an answer ({1}).' -f $where, $failure.Message
        if (([uri]$where).Scheme -eq 'http') { $action = 'If the server serves HTTPS, connect to https:// instead.' }
    } else {
        $message = 'Cannot reach {0}: {1}' -f $where, $failure.Message
    }
    New-AmsErrorRecord -Message $message -ErrorId ('Ams.{0}.{1}' -f $CommandName, $id) -Category $category -Target $Target -InnerException $failure -RecommendedAction $action
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

function Initialize-AmsCertificateBypass {
    # Windows PowerShell 5.1 only. A compiled callback: a script block would need a runspace on the
    # thread that validates.
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
        405 { return [System.Management.Automation.ErrorCategory]::InvalidOperation }
        408 { return [System.Management.Automation.ErrorCategory]::OperationTimeout }
        409 { return [System.Management.Automation.ErrorCategory]::ResourceExists }
        413 { return [System.Management.Automation.ErrorCategory]::LimitsExceeded }
        415 { return [System.Management.Automation.ErrorCategory]::InvalidType }
        422 { return [System.Management.Automation.ErrorCategory]::InvalidData }
        429 { return [System.Management.Automation.ErrorCategory]::LimitsExceeded }
        501 { return [System.Management.Automation.ErrorCategory]::NotImplemented }
        504 { return [System.Management.Automation.ErrorCategory]::OperationTimeout }
    }
    if ($Status -ge 500) { return [System.Management.Automation.ErrorCategory]::ResourceUnavailable }
    if ($Status -ge 400) { return [System.Management.Automation.ErrorCategory]::InvalidOperation }
    [System.Management.Automation.ErrorCategory]::NotSpecified
}
