function Disconnect-AmsServer {
    <#
    .SYNOPSIS
    Forgets the connection to the amsd server, and its key or token.

    .DESCRIPTION
    Clears the connection Connect-AmsServer made from the session. Nothing is sent to the server: an API
    key stays valid until an administrator revokes it (Remove-AmsApiKey).

    .EXAMPLE
    PS> Disconnect-AmsServer

    Forgets the connection; the next cmdlet that needs the server asks you to connect.

    .INPUTS
    None.

    .OUTPUTS
    None.

    .NOTES
    Part of the AccessManager module; written by hand, included by the generator.

    .LINK
    Connect-AmsServer

    .LINK
    Get-AmsConnection
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param()

    if ($null -eq $script:AmsConnection) {
        Write-Verbose 'Not connected.'
    } elseif ($null -ne $script:AmsConnection.HttpClient) {
        $script:AmsConnection.HttpClient.Dispose()
    }
    $script:AmsConnection = $null
}
