# No key, token, password or recovery key ever reaches $Error, an ErrorRecord, a transcript, or the
# verbose, debug or information streams; the module writes its own redacted debug lines.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestSetup.ps1')
    $script:Password = Get-AmsTestPlainPassword -ComputerName $Allowed[0]

    function Get-EveryStreamText {
        # Runs the block with every stream on and collects everything it writes, in every form.
        param([scriptblock] $Block)
        $transcript = Join-Path ([System.IO.Path]::GetTempPath()) ('ams-transcript-{0}.txt' -f [guid]::NewGuid())
        $Error.Clear()
        $null = Start-Transcript -Path $transcript
        $everything = try {
            & $Block *>&1 | ForEach-Object { $_ | Format-List * -Force | Out-String; [string]$_ }
        } finally {
            $null = Stop-Transcript
        }
        $errors = foreach ($record in $Error) {
            $record | Format-List * -Force | Out-String
            $record.Exception | Format-List * -Force | Out-String
            if ($null -ne $record.TargetObject) { $record.TargetObject | Format-List * -Force | Out-String }
            Get-Error -InputObject $record | Out-String
        }
        $text = ($everything -join "`n") + "`n" + ($errors -join "`n") + "`n" + (Get-Content -Path $transcript -Raw)
        Remove-Item -LiteralPath $transcript
        $text
    }
}

Describe 'no secret in any PowerShell stream' {
    It 'a refused read with -Debug and -Verbose: no key in any stream, $Error, Get-Error or the transcript' {
        Connect-AmsDemo
        $text = Get-EveryStreamText {
            $DebugPreference = 'Continue'
            $ErrorView = 'DetailedView'
            Get-AmsLocalAdminPassword -ComputerName $Denied[0].deviceName -Debug -Verbose -ErrorAction Continue
        }
        $text | Should -Match 'AccessManager: POST .*/v1/secrets/local-admin-password -> 403'
        $text | Should -Match $Denied[0].code
        $text.Contains($UserKeyText) | Should -BeFalse -Because 'the API key must never be shown'
        $text | Should -Not -Match 'Bearer'
    }

    It 'a granted read with -Debug (no -AsPlainText): neither the key nor the password anywhere' {
        Connect-AmsDemo
        $text = Get-EveryStreamText {
            $DebugPreference = 'Continue'
            $InformationPreference = 'Continue'
            Get-AmsLocalAdminPassword -ComputerName $Allowed[0] -Debug -Verbose | Format-List | Out-String
        }
        $text | Should -Match '-> 200'
        $text.Contains($Password) | Should -BeFalse -Because 'the password is a SecureString unless -AsPlainText'
        $text.Contains($UserKeyText) | Should -BeFalse
    }

    It 'a failed connection (wrong key): the key tried is not in the error' {
        $wrong = 'ams_' + ('x' * 43)
        $text = Get-EveryStreamText {
            try { Connect-AmsServer -Uri $Demo.url -ApiKey (ConvertTo-SecureString $wrong -AsPlainText -Force) -Debug } catch { $_ | Format-List * -Force | Out-String }
        }
        $text | Should -Match '401'
        $text.Contains($wrong) | Should -BeFalse
    }

    It 'the connection object Get-AmsConnection shows holds no key in clear' {
        Connect-AmsDemo
        (Get-AmsConnection | Format-List * -Force | Out-String).Contains($UserKeyText) | Should -BeFalse
    }
}
