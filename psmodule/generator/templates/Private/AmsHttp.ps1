# The one HTTP sender of the module (System.Net.Http.HttpClient, never the web cmdlets), for amsd and
# for Entra ID alike: a deadline per call, no redirects, no header or body in any stream.
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
