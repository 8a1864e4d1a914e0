function Invoke-AmsEntraTokenRequest {
    <#
    .SYNOPSIS
    One POST of a form to Entra ID's token or device code endpoint; never throws.

    .DESCRIPTION
    Goes through Send-AmsHttpRequest, so the connection's -SkipCertificateCheck and -TimeoutSec apply and
    nothing of the form (a refresh token, a device code) or of the answer (the tokens) reaches a
    PowerShell stream. Answers Token (the token response), OAuthError (error and error_description of
    a refusal) or Failure (a sentence saying why there was no usable answer).
    #>
    param(
        [Parameter(Mandatory = $true)]
        [psobject]
        $Connection,

        [Parameter(Mandatory = $true)]
        [string]
        $Uri,

        [Parameter(Mandatory = $true)]
        [hashtable]
        $Form
    )
    $answer = Send-AmsHttpRequest -Connection $Connection -Method 'POST' -Uri $Uri -Form $Form -Headers @{ 'Accept' = 'application/json' }
    $result = [pscustomobject]@{ Token = $null; OAuthError = $null; Failure = $null }
    if ($null -ne $answer.Failure) {
        $result.Failure = (New-AmsTransportErrorRecord -Answer $answer -CommandName 'EntraSignIn' -Connection $Connection).Exception.Message
        return $result
    }
    $body = $null
    if ($answer.MediaType -match 'json' -and $answer.Text.Length -gt 0) { $body = ConvertFrom-AmsJson -Json $answer.Text }
    if ($answer.StatusCode -ge 200 -and $answer.StatusCode -lt 300 -and $null -ne $body) {
        $result.Token = $body
    } elseif ($null -ne $body -and $null -ne (Get-AmsProperty -InputObject $body -Name 'error')) {
        $result.OAuthError = $body
    } else {
        $result.Failure = '{0} answered {1} ({2}), not an OAuth answer.' -f $answer.Authority, $answer.StatusCode, $(if ($answer.MediaType) { $answer.MediaType } else { 'no content type' })
    }
    $result
}

function Get-AmsOAuthErrorText {
    param([psobject] $Result)
    if ($null -ne $Result.OAuthError) {
        return '{0}: {1}' -f (Get-AmsProperty $Result.OAuthError 'error'), (Get-AmsProperty $Result.OAuthError 'error_description')
    }
    $Result.Failure
}

function Request-AmsDeviceCodeToken {
    <#
    .SYNOPSIS
    Signs in with the OAuth 2.0 device code flow of Entra ID and returns the token response.

    .DESCRIPTION
    Asks <authority>/oauth2/v2.0/devicecode for a code, shows the message that tells the user where to
    enter it, then polls <authority>/oauth2/v2.0/token until the user has signed in, the code expires,
    or Entra ID refuses. Answers Token, or ErrorRecord when the sign-in failed (never throws).
    #>
    param(
        [Parameter(Mandatory = $true)]
        [psobject]
        $Connection,

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
    $code = Invoke-AmsEntraTokenRequest -Connection $Connection -Uri ($base + '/devicecode') -Form @{ client_id = $ClientId; scope = $scope }
    if ($null -eq $code.Token) {
        $exception = [System.InvalidOperationException]::new(('Entra ID did not start the device code sign-in: {0}' -f (Get-AmsOAuthErrorText -Result $code)))
        return [pscustomobject]@{ Token = $null; ErrorRecord = [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.DeviceCode' -f $CommandName), [System.Management.Automation.ErrorCategory]::AuthenticationError, $base) }
    }
    $code = $code.Token

    # As Connect-AzAccount -UseDeviceAuthentication does: a warning is seen, and can be redirected.
    Write-Warning ([string]$code.message)
    $interval = 5
    if ((Get-AmsProperty $code 'interval') -as [int]) { $interval = [int]$code.interval }
    $deadline = [datetime]::UtcNow.AddSeconds([int]$code.expires_in)
    $form = @{
        grant_type  = 'urn:ietf:params:oauth:grant-type:device_code'
        client_id   = $ClientId
        device_code = $code.device_code
    }
    while ([datetime]::UtcNow -lt $deadline) {
        Start-Sleep -Seconds $interval
        $poll = Invoke-AmsEntraTokenRequest -Connection $Connection -Uri ($base + '/token') -Form $form
        if ($null -ne $poll.Token) { return [pscustomobject]@{ Token = $poll.Token; ErrorRecord = $null } }
        $oauthError = Get-AmsProperty $poll.OAuthError 'error'
        if ($oauthError -eq 'authorization_pending') { continue }
        if ($oauthError -eq 'slow_down') { $interval += 5; continue }
        $exception = [System.InvalidOperationException]::new(('The device code sign-in failed: {0}' -f (Get-AmsOAuthErrorText -Result $poll)))
        return [pscustomobject]@{ Token = $null; ErrorRecord = [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.DeviceCode' -f $CommandName), [System.Management.Automation.ErrorCategory]::AuthenticationError, $base) }
    }
    $expired = [System.TimeoutException]::new('The device code expired before the sign-in was completed. Run Connect-AmsServer -UseDeviceCode again.')
    [pscustomobject]@{ Token = $null; ErrorRecord = [System.Management.Automation.ErrorRecord]::new($expired, ('Ams.{0}.DeviceCodeExpired' -f $CommandName), [System.Management.Automation.ErrorCategory]::OperationTimeout, $base) }
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
    $renewed = Invoke-AmsEntraTokenRequest -Connection $Connection -Uri $Connection.TokenEndpoint -Form $form
    if ($null -eq $renewed.Token) {
        Write-Warning ('Could not renew the Entra ID access token ({0}); run Connect-AmsServer -UseDeviceCode again if the server refuses it.' -f (Get-AmsOAuthErrorText -Result $renewed))
        return
    }
    Set-AmsConnectionToken -Connection $Connection -TokenResponse $renewed.Token
}

function Set-AmsConnectionToken {
    param(
        [Parameter(Mandatory = $true)] [psobject] $Connection,
        [Parameter(Mandatory = $true)] [psobject] $TokenResponse
    )
    $Connection.Token = ConvertTo-SecureString -String ([string]$TokenResponse.access_token) -AsPlainText -Force
    if (Get-AmsProperty $TokenResponse 'refresh_token') {
        $Connection.RefreshToken = ConvertTo-SecureString -String ([string]$TokenResponse.refresh_token) -AsPlainText -Force
    }
    $Connection.ExpiresOn = [datetime]::UtcNow.AddSeconds([int]$TokenResponse.expires_in)
}
