# Rotation through Intune, as an admin meets it in PowerShell: -WhatIf asks nothing, a read of the
# demo's rotating device says when the rotation follows, Reset-AmsLocalAdminPassword answers the job,
# and Get-AmsPasswordRotation lists it.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $script:Rotating = $Demo.rotatingDevice.deviceName
    function Get-RotationCount {
        Connect-AmsDemo -As Admin
        @(Get-AmsPasswordRotation -ComputerName $script:Rotating).Count
    }
}

Describe 'Reset-AmsLocalAdminPassword' {
    It 'the demo has a device whose rule rotates after reads' {
        $script:Rotating | Should -Not -BeNullOrEmpty
    }

    It '-WhatIf says what it would ask, and asks nothing' {
        $before = Get-RotationCount
        Connect-AmsDemo
        $transcript = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-whatif-{0}.txt' -f [guid]::NewGuid())
        $null = Start-Transcript -Path $transcript
        try { $answer = Reset-AmsLocalAdminPassword -ComputerName $script:Rotating -WhatIf } finally { $null = Stop-Transcript }
        $said = Get-Content -Path $transcript -Raw
        Remove-Item -LiteralPath $transcript
        $said | Should -Match ([regex]::Escape("'$script:Rotating'"))
        $said | Should -Match 'rotate'
        $answer | Should -BeNullOrEmpty
        Get-RotationCount | Should -Be $before -Because '-WhatIf schedules no rotation'
    }

    It 'rotates on demand for a user the rule allows, answering the job' {
        Connect-AmsDemo
        $job = Reset-AmsLocalAdminPassword -ComputerName $script:Rotating -Reason 'Pester: on demand' -Confirm:$false
        $job.PSObject.TypeNames | Should -Contain 'Ams.PasswordRotation'
        $job.DeviceName | Should -Be $script:Rotating
        $job.Trigger | Should -Be 'onDemand'
        $job.Status | Should -BeIn @('pending', 'done')
        Connect-AmsDemo -As Admin
        (Get-AmsPasswordRotation -ComputerName $script:Rotating).Id | Should -Contain $job.Id
    }

    It 'refuses a device the user may not rotate, as an error record naming the device' {
        Connect-AmsDemo
        $denied = $Denied[0].deviceName
        $answer = Reset-AmsLocalAdminPassword -ComputerName $denied -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures
        $answer | Should -BeNullOrEmpty
        $failures.Count | Should -Be 1
        $failures[0].ToString() | Should -Match ([regex]::Escape($denied))
        $failures[0].ToString() | Should -Match 'forbids you' -Because 'the Tier 0 rule denies the helpdesk the rotation too'
    }
}

Describe 'reads that rotate' {
    It 'the default view of a read shows when the rotation follows' {
        Connect-AmsDemo
        $read = Get-AmsLocalAdminPassword $script:Rotating -AsPlainText
        $read.RotationScheduledAt | Should -Not -BeNullOrEmpty
        ($read | Out-String -Width 250) | Should -Match 'RotationScheduledAt'
    }

    It 'Get-AmsPasswordRotation -Status filters' {
        Connect-AmsDemo -As Admin
        $done = @(Get-AmsPasswordRotation -Status done)
        $done | ForEach-Object { $_.Status | Should -Be 'done' }
        @(Get-AmsPasswordRotation -Status failed) | ForEach-Object { $_.Status | Should -Be 'failed' }
    }
}
