# AmsPwsh stand-in for the Microsoft.PowerShell.Utility module of PowerShell 7: its real assembly is not on the NuGet
# mirror, so these cmdlets come from AmsPwsh.Commands.Utility.dll (two folders up, beside AmsPwsh).
@{
    RootModule = '../../AmsPwsh.Commands.Utility.dll'
    ModuleVersion = '7.0.0.0'
    GUID = '1da87e53-152b-403e-98dc-74d7b4d63d59'
    Author = 'AmsPwsh'
    CompanyName = 'AmsPwsh'
    Copyright = 'MIT'
    Description = 'AmsPwsh stand-in for Microsoft.PowerShell.Utility (a subset of its cmdlets).'
    CompatiblePSEditions = @('Core')
    PowerShellVersion = '7.0'
    CmdletsToExport = @('Write-Output', 'Write-Host', 'Write-Warning', 'Write-Verbose', 'Write-Debug', 'Write-Information', 'Write-Progress', 'Write-Error', 'Out-String', 'Out-File', 'Format-Table', 'Format-List', 'Read-Host', 'Get-Host', 'Clear-Host', 'Join-String', 'Get-Culture', 'Get-UICulture', 'Select-Object', 'Sort-Object', 'Group-Object', 'Measure-Object', 'Get-Member', 'New-Object', 'Add-Member', 'Compare-Object', 'Get-Unique', 'Tee-Object', 'ConvertTo-Json', 'ConvertFrom-Json', 'Invoke-RestMethod', 'Invoke-WebRequest', 'Get-Date', 'New-TimeSpan', 'Start-Sleep', 'Get-Variable', 'Set-Variable', 'New-Variable', 'Remove-Variable', 'Clear-Variable', 'Set-Alias', 'New-Alias', 'Get-Alias', 'Get-Random', 'New-Guid', 'Invoke-Expression', 'ConvertFrom-StringData', 'Import-PowerShellDataFile', 'Select-String', 'Update-TypeData', 'Add-Type', 'ConvertTo-Csv', 'ConvertFrom-Csv', 'Import-Csv', 'Export-Csv', 'Export-Clixml', 'Import-Clixml')
    FunctionsToExport = @()
    AliasesToExport = @()
    VariablesToExport = @()
}
