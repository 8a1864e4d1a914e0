# AmsPwsh stand-in for the Microsoft.PowerShell.Security module of PowerShell 7: its real assembly is not on the NuGet
# mirror, so these cmdlets come from AmsPwsh.Commands.Security.dll (two folders up, beside AmsPwsh).
@{
    RootModule = '../../AmsPwsh.Commands.Security.dll'
    ModuleVersion = '7.0.0.0'
    GUID = 'a94c8c7e-9810-47c0-b8af-65089c13a35a'
    Author = 'AmsPwsh'
    CompanyName = 'AmsPwsh'
    Copyright = 'MIT'
    Description = 'AmsPwsh stand-in for Microsoft.PowerShell.Security (a subset of its cmdlets).'
    CompatiblePSEditions = @('Core')
    PowerShellVersion = '7.0'
    CmdletsToExport = @('ConvertTo-SecureString', 'ConvertFrom-SecureString', 'Get-Credential', 'Get-ExecutionPolicy', 'Set-ExecutionPolicy')
    FunctionsToExport = @()
    AliasesToExport = @()
    VariablesToExport = @()
}
