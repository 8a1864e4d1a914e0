# AmsPwsh stand-in for the Microsoft.PowerShell.Management module of PowerShell 7: its real assembly is not on the NuGet
# mirror, so these cmdlets come from AmsPwsh.Commands.Management.dll (two folders up, beside AmsPwsh).
@{
    RootModule = '../../AmsPwsh.Commands.Management.dll'
    ModuleVersion = '7.0.0.0'
    GUID = 'eefcb906-b326-4e99-9f54-8b4bb6ef3c6d'
    Author = 'AmsPwsh'
    CompanyName = 'AmsPwsh'
    Copyright = 'MIT'
    Description = 'AmsPwsh stand-in for Microsoft.PowerShell.Management (a subset of its cmdlets).'
    CompatiblePSEditions = @('Core')
    PowerShellVersion = '7.0'
    CmdletsToExport = @('Get-Content', 'Set-Content', 'Add-Content', 'Clear-Content', 'Test-Path', 'Resolve-Path', 'Convert-Path', 'Join-Path', 'Split-Path', 'Get-Item', 'Get-ChildItem', 'New-Item', 'Remove-Item', 'Copy-Item', 'Move-Item', 'Rename-Item', 'Set-Item', 'Get-Location', 'Set-Location', 'Push-Location', 'Pop-Location', 'Get-PSDrive', 'Get-PSProvider', 'Get-Process', 'Stop-Process', 'Start-Process', 'Wait-Process', 'Get-ItemProperty')
    FunctionsToExport = @()
    AliasesToExport = @()
    VariablesToExport = @()
}
