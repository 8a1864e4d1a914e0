function Invoke-AmsEntraTokenRequest {
    # One POST to the Entra ID token or device code endpoint (a form body, the same on 5.1 and 7).
    param(
        [Parameter(Mandatory = $true)]
        [string]
        $Uri,

        [Parameter(Mandatory = $true)]
        [hashtable]
        $Form
    )
    $request = @{
        Method      = 'POST'
        Uri         = $Uri
        Body        = $Form
        ContentType = 'application/x-www-form-urlencoded'
        ErrorAction = 'Stop'
    }
    if ($PSVersionTable.PSEdition -ne 'Core') {
        $request['UseBasicParsing'] = $true
        [System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
    }
    Invoke-RestMethod @request
}

function Get-AmsOAuthError {
    # The OAuth error object ({ error, error_description }) of a failed token request, if there is one.
    param([System.Management.Automation.ErrorRecord] $Failure)
    if ($null -eq $Failure.ErrorDetails -or -not $Failure.ErrorDetails.Message) { return $null }
    try {
        ConvertFrom-Json -InputObject $Failure.ErrorDetails.Message -ErrorAction Stop
    } catch {
        $null
    }
}

function Request-AmsDeviceCodeToken {
    <#
    .SYNOPSIS
    Signs in with the OAuth 2.0 device code flow of Entra ID and returns the token response.

    .DESCRIPTION
    Asks <authority>/oauth2/v2.0/devicecode for a code, shows the message that tells the user where to
    enter it, then polls <authority>/oauth2/v2.0/token until the user has signed in, the code expires,
    or Entra ID refuses.
    #>
    param(
        [Parameter(Mandatory = $true)]
        [string]
        $Authority,

        [Parameter(Mandatory = $true)]
        [string]
        $ClientId,

        [Parameter(Mandatory = $true)]
        [string[]]
        $Scopes,

        [Parameter(Mandatory = $true)]
        [string]
        $CommandName
    )
    $base = $Authority.TrimEnd('/') + '/oauth2/v2.0'
    $scope = (@($Scopes) + 'offline_access' | Select-Object -Unique) -join ' '
    try {
        $code = Invoke-AmsEntraTokenRequest -Uri ($base + '/devicecode') -Form @{ client_id = $ClientId; scope = $scope }
    } catch {
        $oauth = Get-AmsOAuthError -Failure $_
        $text = $_.Exception.Message
        if ($null -ne $oauth) { $text = [string]$oauth.error_description }
        $exception = [System.InvalidOperationException]::new(('Entra ID did not start the device code sign-in: {0}' -f $text), $_.Exception)
        throw [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.DeviceCode' -f $CommandName), [System.Management.Automation.ErrorCategory]::AuthenticationError, $base)
    }

    # As Connect-AzAccount -UseDeviceAuthentication does: a warning is seen, and can be redirected.
    Write-Warning ([string]$code.message)
    $interval = 5
    if ($code.interval -as [int]) { $interval = [int]$code.interval }
    $deadline = [datetime]::UtcNow.AddSeconds([int]$code.expires_in)
    $form = @{
        grant_type  = 'urn:ietf:params:oauth:grant-type:device_code'
        client_id   = $ClientId
        device_code = $code.device_code
    }
    while ([datetime]::UtcNow -lt $deadline) {
        Start-Sleep -Seconds $interval
        try {
            return Invoke-AmsEntraTokenRequest -Uri ($base + '/token') -Form $form
        } catch {
            $oauth = Get-AmsOAuthError -Failure $_
            if ($null -ne $oauth -and $oauth.error -eq 'authorization_pending') { continue }
            if ($null -ne $oauth -and $oauth.error -eq 'slow_down') { $interval += 5; continue }
            $text = $_.Exception.Message
            if ($null -ne $oauth) { $text = '{0}: {1}' -f $oauth.error, $oauth.error_description }
            $exception = [System.InvalidOperationException]::new(('The device code sign-in failed: {0}' -f $text), $_.Exception)
            throw [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.DeviceCode' -f $CommandName), [System.Management.Automation.ErrorCategory]::AuthenticationError, $base)
        }
    }
    $expired = [System.TimeoutException]::new('The device code expired before the sign-in was completed. Run Connect-AmsServer -UseDeviceCode again.')
    throw [System.Management.Automation.ErrorRecord]::new($expired, ('Ams.{0}.DeviceCodeExpired' -f $CommandName), [System.Management.Automation.ErrorCategory]::OperationTimeout, $base)
}

function Update-AmsAccessToken {
    # Renews the connection's Entra ID access token with its refresh token, in place.
    param([Parameter(Mandatory = $true)] [psobject] $Connection)
    $form = @{
        grant_type    = 'refresh_token'
        client_id     = $Connection.ClientId
        refresh_token = ConvertFrom-AmsSecureString -SecureString $Connection.RefreshToken
        scope         = (@($Connection.Scopes) + 'offline_access' | Select-Object -Unique) -join ' '
    }
    try {
        $token = Invoke-AmsEntraTokenRequest -Uri $Connection.TokenEndpoint -Form $form
    } catch {
        Write-Warning ('Could not renew the Entra ID access token ({0}); run Connect-AmsServer -UseDeviceCode again if the server refuses it.' -f $_.Exception.Message)
        return
    }
    Set-AmsConnectionToken -Connection $Connection -TokenResponse $token
}

function Set-AmsConnectionToken {
    param(
        [Parameter(Mandatory = $true)] [psobject] $Connection,
        [Parameter(Mandatory = $true)] [psobject] $TokenResponse
    )
    $Connection.Token = ConvertTo-SecureString -String ([string]$TokenResponse.access_token) -AsPlainText -Force
    if ($TokenResponse.refresh_token) {
        $Connection.RefreshToken = ConvertTo-SecureString -String ([string]$TokenResponse.refresh_token) -AsPlainText -Force
    }
    $Connection.ExpiresOn = [datetime]::UtcNow.AddSeconds([int]$TokenResponse.expires_in)
}
