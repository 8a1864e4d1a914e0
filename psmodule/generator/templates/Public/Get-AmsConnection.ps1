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
        DisplayName          = $(if ($null -ne $caller) { $caller.displayName } else { $null })
        Role                 = $(if ($null -ne $caller) { $caller.role } else { $null })
        Kind                 = $(if ($null -ne $caller) { $caller.kind } else { $null })
        TenantId             = $(if ($null -ne $caller -and $caller.tenantId) { $caller.tenantId } else { $connection.TenantId })
        ExpiresOn            = $expiresOn
        SkipCertificateCheck = $connection.SkipCertificateCheck
        ConnectedAt          = $connection.ConnectedAt.ToLocalTime()
    }
    $output.PSObject.TypeNames.Insert(0, 'Ams.Connection')
    $output
}
