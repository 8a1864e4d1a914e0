# The module as a whole: it imports cleanly, documents every parameter, runs strict, stays within
# Windows PowerShell 5.1's language, and completes names from the daemon.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $script:Commands = @(Get-Command -Module AccessManager)
    $script:ModuleFiles = @(Get-ChildItem -Path $ModulePath -Recurse -Include '*.ps1', '*.psm1', '*.psd1')
}

Describe 'import and help' {
    It 'imports with no warning and no error' {
        $job = Start-ThreadJob -ArgumentList $ModulePath -ScriptBlock {
            param($ModulePath)
            Import-Module $ModulePath -WarningVariable warnings -ErrorVariable errors
            @{ Warnings = @($warnings).Count; Errors = @($errors).Count; Commands = @(Get-Command -Module AccessManager).Count }
        }
        $result = $job | Wait-Job | Receive-Job
        $job | Remove-Job
        $result.Warnings | Should -Be 0
        $result.Errors | Should -Be 0
        $manifest = Import-PowerShellDataFile -Path (Join-Path $ModulePath 'AccessManager.psd1')
        $result.Commands | Should -Be $manifest.FunctionsToExport.Count
    }

    It '<Name> has a synopsis, a description, an example, and help for every parameter' -ForEach @(Get-Command -Module AccessManager | ForEach-Object { @{ Name = $_.Name } }) {
        $help = Get-Help $Name -Full
        $help.Synopsis | Should -Not -Match ('^' + [regex]::Escape($Name) + '\s+[\[-]') -Because 'a synopsis, not the syntax'
        ($help.description | Out-String).Trim().Length | Should -BeGreaterThan 20
        @($help.examples.example).Count | Should -BeGreaterOrEqual 1
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        foreach ($parameter in (Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $common }) {
            $text = ($help.parameters.parameter | Where-Object name -eq $parameter | ForEach-Object { $_.description | Out-String }) -join ''
            $text.Trim() | Should -Not -BeNullOrEmpty -Because "-$parameter needs help"
            $text | Should -Not -Match 'field of the request' -Because "-$parameter's help must say something"
        }
    }
}

Describe 'clean code in the module' {
    It 'runs under Set-StrictMode -Version Latest in its own scope' {
        $strict = & (Get-Module AccessManager) { try { $null = ([pscustomobject]@{}).NoSuchProperty; $false } catch { $true } }
        $strict | Should -BeTrue
    }

    It '<Name> uses no PowerShell-7-only syntax (Windows PowerShell 5.1 must parse it)' -ForEach @(Get-ChildItem -Path (Join-Path $PSScriptRoot '../../psmodule/AccessManager') -Recurse -Include '*.ps1', '*.psm1', '*.psd1' | ForEach-Object { @{ Name = $_.Name; Path = $_.FullName } }) {
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $found = [System.Collections.Generic.List[string]]::new()
        foreach ($node in $ast.FindAll({ $true }, $true)) {
            $kind = $node.GetType().Name
            $line = $node.Extent.StartLineNumber
            if ($kind -eq 'TernaryExpressionAst') { $found.Add("line ${line}: ?: (ternary)") }
            if ($kind -eq 'PipelineChainAst') { $found.Add("line ${line}: && or ||") }
            if ($kind -eq 'BinaryExpressionAst' -and $node.Operator -eq 'QuestionQuestion') { $found.Add("line ${line}: ??") }
            if ($kind -eq 'AssignmentStatementAst' -and $node.Operator -eq 'QuestionQuestionEquals') { $found.Add("line ${line}: ??=") }
            if ($kind -in @('MemberExpressionAst', 'InvokeMemberExpressionAst', 'IndexExpressionAst') -and $node.NullConditional) { $found.Add("line ${line}: ?. or ?[]") }
            if ($kind -eq 'NamedBlockAst' -and $node.BlockKind -eq 'Clean') { $found.Add("line ${line}: clean block") }
            if ($kind -eq 'CommandAst') {
                $command = $node.GetCommandName()
                foreach ($parameter in $node.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] }) {
                    if ($command -eq 'ForEach-Object' -and $parameter.ParameterName -eq 'Parallel') { $found.Add("line ${line}: ForEach-Object -Parallel") }
                    if ($command -match '^(Invoke-WebRequest|Invoke-RestMethod)$' -and $parameter.ParameterName -in @('SkipCertificateCheck', 'SkipHttpErrorCheck', 'StatusCodeVariable', 'ResponseHeadersVariable', 'Authentication', 'Token')) { $found.Add("line ${line}: $command -$($parameter.ParameterName)") }
                    if ($command -eq 'ConvertFrom-Json' -and $parameter.ParameterName -in @('AsHashtable', 'Depth', 'DateKind')) { $found.Add("line ${line}: ConvertFrom-Json -$($parameter.ParameterName)") }
                    if ($command -eq 'ConvertFrom-SecureString' -and $parameter.ParameterName -eq 'AsPlainText') { $found.Add("line ${line}: ConvertFrom-SecureString -AsPlainText") }
                }
            }
        }
        $found | Should -BeNullOrEmpty
    }
}

Describe 'argument completion from the daemon' {
    BeforeAll { Connect-AmsDemo }

    It '-ComputerName completes device names' {
        $line = "Get-AmsLocalAdminPassword -ComputerName $($Allowed[0].Substring(0, 5))"
        $completions = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $completions | Should -Contain $Allowed[0]
        @($completions | Where-Object { -not $_.StartsWith($Allowed[0].Substring(0, 5)) }).Count | Should -Be 0
    }

    It 'Get-AmsDevice -Name completes too' {
        $line = "Get-AmsDevice -Name $($Allowed[0])"
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain $Allowed[0]
    }

    It '-TenantId completes the tenant for an admin' {
        Connect-AmsDemo -As Admin
        $line = 'Get-AmsComputerAuthorizationRule -TenantId '
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain $Demo.tenant.tenantId
    }

    It 'rule ids complete with the rule description as the tooltip' {
        Connect-AmsDemo -As Admin
        $rule = Get-AmsComputerAuthorizationRule | Select-Object -First 1
        $line = 'Remove-AmsComputerAuthorizationRule -Id '
        $match = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object CompletionText -eq $rule.Id
        $match.ToolTip | Should -Be $rule.Description
    }

    It 'offers nothing, quickly, without a connection' {
        Disconnect-AmsServer
        $line = 'Get-AmsLocalAdminPassword -ComputerName PC'
        @((TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object ResultType -eq 'ParameterValue').Count | Should -Be 0
    }
}
