# Rules as files: an export the import reads back unchanged, a second import that creates nothing,
# Excel's files (ANSI, semicolons) refused or read as they say.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-rules-{0}' -f [guid]::NewGuid().ToString('n'))
    $null = New-Item -ItemType Directory -Path $Work
    Connect-AmsDemo -As Admin
    $script:Tenant = $Demo.tenant.tenantId
    $script:Marker = 'Pester ' + [guid]::NewGuid().ToString('n').Substring(0, 6)
    # Two rules of our own to carry through the files.
    $null = New-AmsComputerAuthorizationRule -TenantId $Tenant -Description "${Marker}: helpdesk, semicolons; and ""quotes""" -GroupId 'All-Workstations' -PrincipalsAllowedLaps 'AMS-Helpdesk' -Notes 'line one' -Confirm:$false
    $null = New-AmsComputerAuthorizationRule -TenantId $Tenant -Description "${Marker}: é, ü, 日本" -PrincipalsAllowedBitLocker 'AMS-Admins' -UserRequestReasonRequirement Required -Confirm:$false
}

AfterAll {
    Connect-AmsDemo -As Admin
    Get-AmsComputerAuthorizationRule | Where-Object Description -like "$Marker*" | Remove-AmsComputerAuthorizationRule -Force
    Remove-Item -LiteralPath $Work -Recurse -Force
}

Describe 'Export and import' {
    It 'the export reads back unchanged, and importing it again creates nothing (every rule reported as existing)' {
        $file = Join-Path $Work 'rules.csv'
        Export-AmsComputerAuthorizationRule -Path $file
        $existing = @(Get-AmsComputerAuthorizationRule)
        $result = Import-AmsComputerAuthorizationRule -Path $file
        @($result.Items).Count | Should -Be 0
        @($result.Skipped).Count | Should -Be $existing.Count
        @(Get-AmsComputerAuthorizationRule).Count | Should -Be $existing.Count
    }

    It 'the export recreates the same rules (dry run with duplicates allowed)' {
        $file = Join-Path $Work 'rules.csv'
        Export-AmsComputerAuthorizationRule -Path $file
        $result = Import-AmsComputerAuthorizationRule -Path $file -AllowDuplicates -WhatIf
        $before = Get-AmsComputerAuthorizationRule | Where-Object Description -like "$Marker*" | Sort-Object Description
        $after = @($result.Items) | Where-Object Description -like "$Marker*" | Sort-Object Description
        $fields = 'Description', 'TenantId', 'TargetType', 'TargetId', 'UserRequestReasonRequirement', 'Notes', 'Disabled'
        ($after | Select-Object $fields | ConvertTo-Json) | Should -Be ($before | Select-Object $fields | ConvertTo-Json)
        ($after | ForEach-Object { @($_.PrincipalsAllowedLaps).Id -join ',' }) | Should -Be ($before | ForEach-Object { @($_.PrincipalsAllowedLaps).Id -join ',' })
    }

    It 'Get-Item file | Import-AmsComputerAuthorizationRule binds -Path' {
        $file = Join-Path $Work 'piped.csv'
        Export-AmsComputerAuthorizationRule -Path $file
        $result = Get-Item -LiteralPath $file | Import-AmsComputerAuthorizationRule -WhatIf
        @($result.Skipped).Count | Should -BeGreaterThan 0
    }

    It 'a semicolon file (Excel where the decimal separator is a comma) reads as one' {
        $file = Join-Path $Work 'semicolons.csv'
        Export-AmsComputerAuthorizationRule -Path $file -Delimiter ';'
        (Get-Content -Path $file -TotalCount 1) | Should -Match '^Description;TenantId;'
        $result = Import-AmsComputerAuthorizationRule -Path $file -WhatIf
        @($result.Skipped).Count | Should -BeGreaterThan 0
        $result = Import-AmsComputerAuthorizationRule -Path $file -Delimiter ';' -WhatIf
        @($result.Skipped).Count | Should -BeGreaterThan 0
    }

    It '-NoClobber keeps an existing file' {
        $file = Join-Path $Work 'kept.csv'
        Set-Content -Path $file -Value 'keep me'
        Export-AmsComputerAuthorizationRule -Path $file -NoClobber -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Ams.Export-AmsComputerAuthorizationRule.FileExists*'
        Get-Content -Path $file | Should -Be 'keep me'
    }
}

Describe 'files that are not UTF-8' {
    BeforeAll {
        $script:AnsiFile = Join-Path $Work 'ansi.csv'
        $text = "Description,TenantId,PrincipalsAllowedLaps`r`n$Marker Caf$([char]0xE9) cr$([char]0xE8)me,$Tenant,AMS-Helpdesk`r`n"
        [System.IO.File]::WriteAllBytes($AnsiFile, [System.Text.Encoding]::GetEncoding(28591).GetBytes($text))
    }

    It 'is refused, saying how to fix it, and nothing is sent' {
        Import-AmsComputerAuthorizationRule -Path $AnsiFile -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Ams.Import-AmsComputerAuthorizationRule.NotUtf8*'
        $failures[0].Exception.Message | Should -Match 'CSV UTF-8'
        $failures[0].Exception.Message | Should -Match '-Encoding'
        @(Get-AmsComputerAuthorizationRule | Where-Object Description -like "$Marker Caf*").Count | Should -Be 0
    }

    It 'is read as -Encoding says' {
        $result = Import-AmsComputerAuthorizationRule -Path $AnsiFile -Encoding windows-1252 -WhatIf
        @($result.Items)[0].Description | Should -Be "$Marker Caf$([char]0xE9) cr$([char]0xE8)me"
    }
}
