# The ErrorRecords a failed call becomes: one per failure, the server's detail as the message, a
# category per status, and a sentence an admin can act on when no answer came.
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
