# Errors as admins expect them: the module's own record, once, with the server's detail as the message.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
}

Describe 'a refused read' {
    BeforeEach { Connect-AmsDemo; $Error.Clear() }

    It 'is one record, Ams.Cmdlet.403, PermissionDenied, the computer as its target' {
        Get-AmsLocalAdminPassword -ComputerName $Denied[0].deviceName -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures.Count | Should -Be 1
        $Error.Count | Should -Be 1
        $Error[0].FullyQualifiedErrorId | Should -BeLike 'Ams.Get-AmsLocalAdminPassword.403*'
        $Error[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $Error[0].TargetObject | Should -Be $Denied[0].deviceName
        $Error[0].Exception.Data['Code'] | Should -Be $Denied[0].code
    }

    It "has the server's detail as the exception's message, so catch { Write-Warning } says why" {
        try { Get-AmsLocalAdminPassword -ComputerName $Denied[0].deviceName -ErrorAction Stop } catch { $caught = $_ }
        $caught.Exception.Message | Should -Match 'deny|denies|rule'
        $caught.Exception.Message | Should -Match $Denied[0].code
        $caught.Exception.Message | Should -Not -Match 'Response status code'
    }

    It 'leaves $Error untouched with -ErrorAction Ignore' {
        Get-AmsLocalAdminPassword -ComputerName $Denied[0].deviceName -ErrorAction Ignore
        Get-AmsDevice -Name 'NO-SUCH-DEVICE' -ErrorAction Ignore
        $Error.Count | Should -Be 0
    }

    It 'goes on with the next computer: one record per refused one' {
        $read = @($Allowed[0], $Denied[0].deviceName, $Allowed[1] | Get-AmsLocalAdminPassword -ErrorVariable failures -ErrorAction SilentlyContinue)
        $read.DeviceName | Should -Be @($Allowed[0], $Allowed[1])
        $failures.Count | Should -Be 1
    }
}

Describe 'categories and transport failures' {
    It 'maps every status to a fitting category' -ForEach @(
        @{ Status = 400; Category = 'InvalidArgument' }, @{ Status = 401; Category = 'AuthenticationError' },
        @{ Status = 403; Category = 'PermissionDenied' }, @{ Status = 404; Category = 'ObjectNotFound' },
        @{ Status = 409; Category = 'ResourceExists' }, @{ Status = 413; Category = 'LimitsExceeded' },
        @{ Status = 415; Category = 'InvalidType' }, @{ Status = 429; Category = 'LimitsExceeded' },
        @{ Status = 503; Category = 'ResourceUnavailable' }, @{ Status = 504; Category = 'OperationTimeout' }
    ) {
        InModuleScope AccessManager -Parameters @{ Status = $Status } { param($Status) Get-AmsErrorCategory -Status $Status } | Should -Be $Category
    }

    It 'an untrusted certificate says so and names -SkipCertificateCheck' {
        # The simulated tenant serves TLS with its own CA, which this machine does not trust.
        { Connect-AmsServer -Uri $Demo.tenant.authorityHost -ApiKey $UserKey -ErrorAction Stop } | Should -Throw -ExpectedMessage '*not trusted*'
        $Error[0].FullyQualifiedErrorId | Should -BeLike 'Ams.Connect-AmsServer.CertificateNotTrusted*'
        $Error[0].ErrorDetails.RecommendedAction | Should -Match 'SkipCertificateCheck'
    }

    It 'a server that is not amsd is named as such' {
        { Connect-AmsServer -Uri $Demo.tenant.authorityHost -ApiKey $UserKey -SkipCertificateCheck -ErrorAction Stop } | Should -Throw -ExpectedMessage '*not*amsd*'
    }

    It 'nothing listening: connection refused, with the address' {
        $listener = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
        { Connect-AmsServer -Uri "http://127.0.0.1:$port" -ApiKey $UserKey -ErrorAction Stop } | Should -Throw -ExpectedMessage "*127.0.0.1:$port*refused*"
    }

    It 'a server that accepts and never answers is a timeout after -TimeoutSec, not a hang' {
        $listener = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $listener.Start()
        try {
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            { Connect-AmsServer -Uri "http://127.0.0.1:$($listener.LocalEndpoint.Port)" -ApiKey $UserKey -TimeoutSec 1 -ErrorAction Stop } | Should -Throw -ExpectedMessage '*did not answer within 1 seconds*'
            $Error[0].CategoryInfo.Category | Should -Be 'OperationTimeout'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 30
        } finally {
            $listener.Stop()
        }
    }

    It 'a call without a connection is Ams.Cmdlet.NotConnected' {
        Disconnect-AmsServer
        Get-AmsHealth -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Ams.Get-AmsHealth.NotConnected*'
    }
}

Describe 'bodiless POSTs' {
    It 'Test-AmsTenant answers its checks' {
        Connect-AmsDemo -As Admin
        $check = Test-AmsTenant -TenantId $Demo.tenant.tenantId -ErrorAction Stop
        $check.Succeeded | Should -BeTrue
    }

    It 'Test-AmsNotificationChannel sends its sample and says how it went' {
        Connect-AmsDemo -As Admin
        $listener = [System.Net.Sockets.TcpListener]::new([ipaddress]::Loopback, 0)
        $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
        $channel = New-AmsNotificationChannel -Name ('pester-' + [guid]::NewGuid().ToString('n').Substring(0, 8)) -Kind webhook -Url "http://127.0.0.1:$port/hook" -Confirm:$false
        try {
            $result = Test-AmsNotificationChannel -Id $channel.Id -ErrorAction Stop
            $result | Should -Not -BeNullOrEmpty -Because 'the daemon answered (no 415 for a bodiless POST)'
        } finally {
            Remove-AmsNotificationChannel -Id $channel.Id -Force
        }
    }
}

Describe 'the device code sign-in' {
    It "works as the demo's banner prints it: -SkipCertificateCheck covers the calls to Entra ID too" {
        # The simulated tenant's CA is not trusted here, as a test tenant's would not be.
        $line = Get-Content -Path $env:AMS_DEMO_BANNER | Where-Object { $_ -match '^\s*Connect-AmsServer .*-UseDeviceCode' } | Select-Object -First 1
        $line | Should -Not -BeNullOrEmpty -Because 'the banner shows how to sign in'
        $command = ($line -replace '#.*$', '').Trim()
        $job = Start-ThreadJob -ArgumentList $ModulePath, $command -ScriptBlock {
            param($ModulePath, $Command)
            Import-Module $ModulePath
            Invoke-Expression $Command
        }
        try {
            $deadline = [datetime]::UtcNow.AddSeconds(60)
            $code = $null
            while (-not $code -and [datetime]::UtcNow -lt $deadline -and $job.State -in @('NotStarted', 'Running')) {
                $said = @($job.Warning) -join ' '
                if ($said -match 'enter the code (\S+)') { $code = $Matches[1] } else { Start-Sleep -Milliseconds 200 }
            }
            $code | Should -Not -BeNullOrEmpty -Because ('the sign-in shows a code: ' + (@($job.Error) -join ' '))
            $approve = @{ user_code = $code; user = $Demo.user.userPrincipalName; action = 'approve' }
            $null = Invoke-WebRequest -Method Post -Uri $Demo.signIn.verificationUri -Body $approve -SkipCertificateCheck
            $connection = $job | Wait-Job -Timeout 60 | Receive-Job
            $connection.AuthenticationType | Should -Be 'DeviceCode'
            $connection.Kind | Should -Be 'entra'
        } finally {
            $job | Remove-Job -Force
        }
    }
}
