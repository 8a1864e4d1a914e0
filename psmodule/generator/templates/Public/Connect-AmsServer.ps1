function Connect-AmsServer {
    <#
    .SYNOPSIS
    Connects to an amsd server: every AccessManager cmdlet then talks to it.

    .DESCRIPTION
    Remembers the server's address and how to authenticate to it for the rest of the session, after
    checking both: the server is asked who it takes the caller to be (GET /v1/me), and the connection
    is kept only if it answers. Authenticate with an amsd API key (-ApiKey), an Entra ID access token
    for amsd (-AccessToken), or by signing in with the Entra ID device code flow (-UseDeviceCode), which
    reads how to sign in from the server (GET /v1/auth/config). -Anonymous connects without credentials,
    for the operations that need none (Get-AmsHealth, Get-AmsAuthConfig).

    Keys and tokens stay SecureString objects in the session; they are turned into plain text only to be
    sent in the Authorization header. Over http:// they travel unencrypted: use https:// except on
    loopback.

    .PARAMETER Uri
    The server's address, e.g. https://amsd.contoso.com:5800 (a path prefix is kept, for a server behind a
    reverse proxy).

    .PARAMETER ApiKey
    An amsd API key (ams_...). Without -ApiKey, -AccessToken, -UseDeviceCode or -Anonymous, PowerShell
    asks for it, without echoing it.

    .PARAMETER AccessToken
    An Entra ID access token issued for amsd's API, obtained elsewhere (for example with MSAL).

    .PARAMETER UseDeviceCode
    Signs in with the Entra ID device code flow: shows a code and a web address where to enter it, from
    any browser, then waits until the sign-in is completed. The token is renewed as long as the session
    lasts.

    .PARAMETER TenantId
    With -UseDeviceCode, the Entra tenant to sign in to, when the server accepts users of several.
    Without it, the first tenant the server lists.

    .PARAMETER Anonymous
    Connects without credentials: only the operations that need no sign-in work.

    .PARAMETER SkipCertificateCheck
    Accepts a server certificate that is not trusted (a test server with a self-signed certificate),
    for amsd and, with -UseDeviceCode, for the Entra ID sign-in it points to. Anyone between you and
    the server could then read your key: do not use it otherwise.

    .PARAMETER TimeoutSec
    How long any one call of this session may take, in seconds (100 unless given). A server that
    accepts the connection and never answers is then a timeout error, not a hang.

    .EXAMPLE
    PS> Connect-AmsServer -Uri 'https://amsd.contoso.com:5800' -ApiKey (Read-Host -AsSecureString -Prompt 'API key')

    Connects with an API key typed without echo.

    .EXAMPLE
    PS> Connect-AmsServer -Uri 'https://amsd.contoso.com:5800' -UseDeviceCode

    Signs in with Entra ID: open the address shown, enter the code, sign in; the cmdlet then continues.

    .EXAMPLE
    PS> $key = Get-Content -Path .\helpdesk.key | ConvertTo-SecureString -AsPlainText -Force
    PS> Connect-AmsServer -Uri 'http://127.0.0.1:5800' -ApiKey $key

    Connects a script to a local server with a key kept in a file.

    .INPUTS
    None.

    .OUTPUTS
    Ams.Connection
    The connection, as Get-AmsConnection shows it.

    .NOTES
    Part of the AccessManager module; written by hand, included by the generator.

    .LINK
    Get-AmsConnection

    .LINK
    Disconnect-AmsServer

    .LINK
    about_AccessManager
    #>
    [CmdletBinding(DefaultParameterSetName = 'ApiKey', PositionalBinding = $false)]
    [OutputType('Ams.Connection')]
    param(
        [Parameter(Mandatory = $true, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]
        $Uri,

        [Parameter(Mandatory = $true, ParameterSetName = 'ApiKey')]
        [System.Security.SecureString]
        $ApiKey,

        [Parameter(Mandatory = $true, ParameterSetName = 'AccessToken')]
        [System.Security.SecureString]
        $AccessToken,

        [Parameter(Mandatory = $true, ParameterSetName = 'DeviceCode')]
        [switch]
        $UseDeviceCode,

        [Parameter(ParameterSetName = 'DeviceCode')]
        [ValidateNotNullOrEmpty()]
        [string]
        $TenantId,

        [Parameter(Mandatory = $true, ParameterSetName = 'Anonymous')]
        [switch]
        $Anonymous,

        [Parameter()]
        [switch]
        $SkipCertificateCheck,

        [Parameter()]
        [ValidateRange(1, 3600)]
        [int]
        $TimeoutSec = 100
    )

    $parsed = $null
    if (-not [uri]::TryCreate($Uri, [System.UriKind]::Absolute, [ref]$parsed) -or $parsed.Scheme -notin @('http', 'https')) {
        $exception = [System.ArgumentException]::new(('"{0}" is not an http:// or https:// address, e.g. https://amsd.contoso.com:5800' -f $Uri))
        $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new($exception, 'Ams.Connect-AmsServer.InvalidUri', [System.Management.Automation.ErrorCategory]::InvalidArgument, $Uri))
    }
    if ($parsed.Scheme -eq 'http' -and -not $parsed.IsLoopback -and $PSCmdlet.ParameterSetName -ne 'Anonymous') {
        Write-Warning ('{0} is not encrypted: the credentials can be read on the way. Use https:// unless the server is on this machine.' -f $parsed.GetLeftPart([System.UriPartial]::Authority))
    }

    $connection = [pscustomobject]@{
        Uri                  = $parsed.AbsoluteUri.TrimEnd('/')
        AuthenticationType   = $PSCmdlet.ParameterSetName
        Token                = $null
        RefreshToken         = $null
        ExpiresOn            = $null
        TokenEndpoint        = $null
        ClientId             = $null
        Scopes               = @()
        TenantId             = $null
        SkipCertificateCheck = $SkipCertificateCheck.IsPresent
        TimeoutSec           = $TimeoutSec
        HttpClient           = $null
        Caller               = $null
        ConnectedAt          = $null
    }
    $commandName = $MyInvocation.MyCommand.Name

    # Every failure is one terminating ErrorRecord (a throw caught here would add a second to $Error).
    $fail = {
        param([System.Management.Automation.ErrorRecord] $Record)
        if ($null -ne $connection.HttpClient) { $connection.HttpClient.Dispose() }
        $PSCmdlet.ThrowTerminatingError($Record)
    }
    switch ($PSCmdlet.ParameterSetName) {
        'ApiKey' { $connection.Token = $ApiKey }
        'AccessToken' { $connection.Token = $AccessToken }
        'DeviceCode' {
            $config = Invoke-AmsRequest -Method 'GET' -Path '/v1/auth/config' -CommandName $commandName -Target $connection.Uri -Anonymous -Connection $connection
            if (-not $config.Succeeded) { & $fail $config.ErrorRecord }
            $signIn = $config.Content
            if ($PSBoundParameters.ContainsKey('TenantId')) {
                $signIn = @(Get-AmsProperty $config.Content 'tenants') | Where-Object { $null -ne $_ -and $_.tenantId -eq $TenantId } | Select-Object -First 1
                if ($null -eq $signIn) {
                    $known = (@(Get-AmsProperty $config.Content 'tenants') | Where-Object { $null -ne $_ } | ForEach-Object { '{0} ({1})' -f $_.tenantId, $_.displayName }) -join ', '
                    if (-not $known) { $known = 'none' }
                    $exception = [System.ArgumentException]::new(('The server does not accept sign-ins from tenant {0}. Tenants it accepts: {1}' -f $TenantId, $known))
                    & $fail ([System.Management.Automation.ErrorRecord]::new($exception, 'Ams.Connect-AmsServer.UnknownTenant', [System.Management.Automation.ErrorCategory]::ObjectNotFound, $TenantId))
                }
            }
            if (-not (Get-AmsProperty $signIn 'authority') -or -not (Get-AmsProperty $signIn 'clientId')) {
                $exception = [System.InvalidOperationException]::new('The server has no Entra ID user sign-in configured (GET /v1/auth/config). Connect with -ApiKey instead, or ask an administrator to configure user sign-in for a tenant.')
                & $fail ([System.Management.Automation.ErrorRecord]::new($exception, 'Ams.Connect-AmsServer.SignInNotConfigured', [System.Management.Automation.ErrorCategory]::NotEnabled, $connection.Uri))
            }
            $signedIn = Request-AmsDeviceCodeToken -Connection $connection -Authority $signIn.authority -ClientId $signIn.clientId -Scopes @($signIn.scopes) -CommandName $commandName
            if ($null -ne $signedIn.ErrorRecord) { & $fail $signedIn.ErrorRecord }
            $connection.TokenEndpoint = ([string]$signIn.authority).TrimEnd('/') + '/oauth2/v2.0/token'
            $connection.ClientId = [string]$signIn.clientId
            $connection.Scopes = @($signIn.scopes)
            $connection.TenantId = [string](Get-AmsProperty $signIn 'tenantId')
            Set-AmsConnectionToken -Connection $connection -TokenResponse $signedIn.Token
        }
    }

    if ($PSCmdlet.ParameterSetName -eq 'Anonymous') {
        $check = Invoke-AmsRequest -Method 'GET' -Path '/v1/health' -CommandName $commandName -Target $connection.Uri -Connection $connection
    } else {
        $check = Invoke-AmsRequest -Method 'GET' -Path '/v1/me' -CommandName $commandName -Target $connection.Uri -Connection $connection
    }
    if (-not $check.Succeeded) { & $fail $check.ErrorRecord }
    if ($PSCmdlet.ParameterSetName -ne 'Anonymous') { $connection.Caller = $check.Content }

    if ($null -ne $script:AmsConnection -and $null -ne $script:AmsConnection.HttpClient) { $script:AmsConnection.HttpClient.Dispose() }
    $connection.ConnectedAt = [datetime]::UtcNow
    $script:AmsConnection = $connection
    Get-AmsConnection
}
