# Output an admin can read: the secret in the default view when asked for in clear, nested properties
# that filter and group as they display, principals by name, the object named by -WhatIf.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
}

Describe 'the default views' {
    It 'Get-AmsLocalAdminPassword -AsPlainText shows the password on the screen' {
        Connect-AmsDemo
        $expected = Get-AmsTestPlainPassword -ComputerName $Allowed[0]
        $screen = Get-AmsLocalAdminPassword $Allowed[0] -AsPlainText | Out-String -Width 200
        $screen | Should -Match 'Password'
        $screen.Contains($expected) | Should -BeTrue
    }

    It 'without -AsPlainText the column says it is a SecureString' {
        Connect-AmsDemo
        $screen = Get-AmsLocalAdminPassword $Allowed[0] | Out-String -Width 200
        $screen | Should -Match 'SecureString'
        $screen.Contains((Get-AmsTestPlainPassword -ComputerName $Allowed[0])) | Should -BeFalse
    }

    It 'Get-AmsFveRecoveryKey -AsPlainText shows the recovery key on the screen' {
        Connect-AmsDemo
        $keys = @(Get-AmsFveRecoveryKey $Allowed[0] -Reason 'Pester: the default view' -AsPlainText)
        $keys.Count | Should -BeGreaterThan 0
        $screen = $keys | Out-String -Width 250
        $screen | Should -Match 'Key'
        $screen.Contains([string]$keys[0].Key) | Should -BeTrue
        $keys[0].Key | Should -Match '^\d{6}(-\d{6}){7}$'
    }

    It 'New-AmsApiKey shows the new key: it cannot be seen again' {
        Connect-AmsDemo -As Admin
        $created = New-AmsApiKey -Name ('pester-' + [guid]::NewGuid().ToString('n').Substring(0, 8)) -Role user -Confirm:$false
        $created.Key | Should -BeOfType [string]
        $created.Key | Should -Match '^ams_'
        ($created | Out-String -Width 200).Contains($created.Key) | Should -BeTrue
        Remove-AmsApiKey -Id $created.Id -Force
    }
}

Describe 'audit events filter and group the way they display' {
    BeforeAll {
        Connect-AmsDemo
        Get-AmsLocalAdminPassword -ComputerName $Denied[0].deviceName -ErrorAction SilentlyContinue
        Get-AmsLocalAdminPassword -ComputerName $Allowed[0] | Out-Null
        Connect-AmsDemo -As Admin
        $script:Events = @(Get-AmsAuditEvent -First 200)
    }

    It 'Where-Object Outcome -eq ExplicitlyDenied' {
        $denied = @($Events | Where-Object Outcome -eq 'ExplicitlyDenied')
        $denied.Count | Should -BeGreaterThan 0
        $denied[0].Outcome | Should -Be 'ExplicitlyDenied'
    }

    It 'Where-Object DeviceName -eq a device name' {
        @($Events | Where-Object DeviceName -eq $Denied[0].deviceName).Count | Should -BeGreaterThan 0
    }

    It 'Group-Object Outcome' {
        $groups = $Events | Group-Object Outcome
        $groups.Name | Should -Contain 'ExplicitlyDenied'
        $groups.Name | Should -Contain 'Success'
    }

    It 'the table shows the same names' {
        $screen = $Events | Select-Object -First 5 | Out-String -Width 250
        $screen | Should -Match 'Actor\s+DeviceName\s+Outcome'
    }
}

Describe 'rules' {
    It 'principals show their names in a list' {
        Connect-AmsDemo -As Admin
        $rule = Get-AmsComputerAuthorizationRule | Where-Object { @($_.PrincipalsAllowedLaps).Count -gt 0 } | Select-Object -First 1
        $text = $rule | Format-List | Out-String -Width 300
        $text | Should -Match ('PrincipalsAllowedLaps\s*:\s*\{' + [regex]::Escape([string]@($rule.PrincipalsAllowedLaps)[0].DisplayName))
        $text | Should -Not -Match '@\{'
    }

    It '-WhatIf names the rule by its description and id' {
        Connect-AmsDemo -As Admin
        $rule = Get-AmsComputerAuthorizationRule | Select-Object -First 1
        $transcript = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-whatif-{0}.txt' -f [guid]::NewGuid())
        $null = Start-Transcript -Path $transcript
        try { $rule | Remove-AmsComputerAuthorizationRule -WhatIf } finally { $null = Stop-Transcript }
        $said = Get-Content -Path $transcript -Raw
        Remove-Item -LiteralPath $transcript
        $said | Should -Match ([regex]::Escape("computer authorization rule '$($rule.Description)' ($($rule.Id))"))
        @(Get-AmsComputerAuthorizationRule -Id $rule.Id).Count | Should -Be 1 -Because '-WhatIf removes nothing'
    }

    It '-WhatIf names a tenant by its display name' {
        Connect-AmsDemo -As Admin
        $transcript = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-whatif-{0}.txt' -f [guid]::NewGuid())
        $null = Start-Transcript -Path $transcript
        try { Remove-AmsTenant -TenantId $Demo.tenant.tenantId -WhatIf } finally { $null = Stop-Transcript }
        $said = Get-Content -Path $transcript -Raw
        Remove-Item -LiteralPath $transcript
        $said | Should -Match ([regex]::Escape("tenant '$($Demo.tenant.displayName)'"))
    }
}

Describe 'pipeline and parameters' {
    BeforeAll { Connect-AmsDemo }

    It 'strings piped in are computer names' {
        $read = @($Allowed[0], $Allowed[1] | Get-AmsLocalAdminPassword -AsPlainText)
        $read.DeviceName | Should -Be @($Allowed[0], $Allowed[1])
    }

    It '-ComputerName takes a list' {
        (@(Get-AmsLocalAdminPassword -ComputerName $Allowed[0], $Allowed[1])).DeviceName | Should -Be @($Allowed[0], $Allowed[1])
    }

    It 'Get-Content pcs.txt | Get-AmsDevice' {
        $file = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-pcs-{0}.txt' -f [guid]::NewGuid())
        Set-Content -Path $file -Value @($Allowed[0], $Allowed[1])
        try { (@(Get-Content -Path $file | Get-AmsDevice)).DeviceName | Should -Be @($Allowed[0], $Allowed[1]) } finally { Remove-Item -LiteralPath $file }
    }

    It 'a piped device is read by its id, even when its name is shared' {
        $pair = @(Get-AmsDevice -First 500 | Where-Object DeviceName -eq $Demo.duplicatedDeviceName)
        $pair.Count | Should -Be 2
        $read = @($pair | Get-AmsLocalAdminPassword -ErrorAction SilentlyContinue -ErrorVariable failures)
        @($failures | Where-Object { $_.FullyQualifiedErrorId -like '*.409*' }).Count | Should -Be 0 -Because 'the id names one device'
    }

    It 'the default parameter set is by computer name' {
        (Get-Command Get-AmsLocalAdminPassword).DefaultParameterSet | Should -Be 'ByComputerName'
        (Get-Command Get-AmsFveRecoveryKey).DefaultParameterSet | Should -Be 'ByComputerName'
    }
}
