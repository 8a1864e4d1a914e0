# The README's PowerShell examples run as they are against the demo: from a folder that has the
# repository's psmodule/, with the temp folder holding amsd-demo/ (the demo's default data dir).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $readme = Get-Content -Path (Join-Path $PSScriptRoot '../../README.md') -Raw
    $section = $readme.Substring($readme.IndexOf('## The PowerShell module'))
    $script:Example = [regex]::Match($section, '```powershell\r?\n(.*?)```', 'Singleline').Groups[1].Value

    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-readme-{0}' -f [guid]::NewGuid().ToString('n'))
    $null = New-Item -ItemType Directory -Path (Join-Path $Work 'tmp')
    $null = New-Item -ItemType SymbolicLink -Path (Join-Path $Work 'psmodule') -Target (Resolve-Path (Join-Path $PSScriptRoot '../../psmodule')).Path
    $null = New-Item -ItemType SymbolicLink -Path (Join-Path $Work 'tmp/amsd-demo') -Target (Split-Path -Parent $env:AMS_DEMO_JSON)
    Set-Content -Path (Join-Path $Work 'example.ps1') -Value $Example
    # Each error as one line, so that the test can tell which the example meant to cause.
    Set-Content -Path (Join-Path $Work 'run.ps1') -Value @'
& ./example.ps1 2>&1 | ForEach-Object {
    if ($_ -is [System.Management.Automation.ErrorRecord]) { 'ERROR ' + $_.FullyQualifiedErrorId + ' ' + $_.Exception.Message } else { $_ | Out-String -Width 250 }
}
'@
    $pwsh = Join-Path $PSHOME 'pwsh'
    $previousTemp = $env:TMPDIR
    $env:TMPDIR = Join-Path $Work 'tmp'
    Push-Location $Work
    try {
        $script:Output = & $pwsh -NoProfile -NonInteractive -File ./run.ps1 | Out-String
        $script:ExitCode = $LASTEXITCODE
    } finally {
        Pop-Location
        $env:TMPDIR = $previousTemp
    }
}

AfterAll {
    Remove-Item -LiteralPath $Work -Recurse -Force
}

Describe "the README's PowerShell examples" {
    It 'has examples to run' {
        ($Example -split "`n").Count | Should -BeGreaterThan 10
    }

    It 'run to the end' {
        $ExitCode | Should -Be 0
        $Output | Should -Match 'SYNOPSIS|Get-AmsLocalAdminPassword PC-0001'
    }

    It 'fail only where they say so: the read of PC-0006 is refused' {
        $errors = @($Output -split "`n" | Where-Object { $_ -like 'ERROR *' })
        $errors.Count | Should -Be 1 -Because ($errors -join "`n")
        $errors[0] | Should -Match 'Ams.Get-AmsLocalAdminPassword.403.*ExplicitlyDenied'
    }

    It 'show the passwords they ask for in clear, and the audit trail grouped' {
        $Output.Contains((Get-AmsTestPlainPassword -ComputerName 'PC-0002')) | Should -BeTrue
        $Output.Contains((Get-AmsTestPlainPassword -ComputerName 'PC-0004')) | Should -BeTrue
        $Output | Should -Match 'ExplicitlyDenied'
    }

    It 'leave the demo as they found it (the rule they make, they remove)' {
        Connect-AmsDemo -As Admin
        @(Get-AmsComputerAuthorizationRule | Where-Object Description -eq 'Helpdesk: site A').Count | Should -Be 0
    }
}
