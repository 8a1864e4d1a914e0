function Get-AmsConnection {
    <#
    .SYNOPSIS
    Shows the current connection to an amsd server: the address, how you signed in and who you are.

    .DESCRIPTION
    Emits the connection Connect-AmsServer made, without its key or token, or nothing when there is
    none. DisplayName and Role are what the server answered when the connection was made (GET /v1/me);
    ExpiresOn is when an Entra ID token expires (it is renewed as long as the session lasts).

    .EXAMPLE
    PS> Get-AmsConnection

    Shows the server in use and the identity it knows you by.

    .EXAMPLE
    PS> if (-not (Get-AmsConnection)) { Connect-AmsServer -Uri 'https://amsd.contoso.com:5800' }

    Connects only when not connected yet.

    .INPUTS
    None.

    .OUTPUTS
    Ams.Connection

    .NOTES
    Part of the AccessManager module; written by hand, included by the generator.

    .LINK
    Connect-AmsServer

    .LINK
    Disconnect-AmsServer
    #>
    [CmdletBinding()]
    [OutputType('Ams.Connection')]
    param()

    $connection = $script:AmsConnection
    if ($null -eq $connection) {
        Write-Verbose 'Not connected: run Connect-AmsServer.'
        return
    }
    $caller = $connection.Caller
    $expiresOn = $null
    if ($null -ne $connection.ExpiresOn) { $expiresOn = $connection.ExpiresOn.ToLocalTime() }
    $output = [pscustomobject]@{
        Uri                  = $connection.Uri
        AuthenticationType   = $connection.AuthenticationType
        DisplayName          = Get-AmsProperty $caller 'displayName'
        Role                 = Get-AmsProperty $caller 'role'
        Kind                 = Get-AmsProperty $caller 'kind'
        TenantId             = $(if (Get-AmsProperty $caller 'tenantId') { $caller.tenantId } else { $connection.TenantId })
        ExpiresOn            = $expiresOn
        SkipCertificateCheck = $connection.SkipCertificateCheck
        TimeoutSec           = $connection.TimeoutSec
        ConnectedAt          = $connection.ConnectedAt.ToLocalTime()
    }
    $output.PSObject.TypeNames.Insert(0, 'Ams.Connection')
    $output
}
