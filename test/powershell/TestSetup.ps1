# Dot-sourced by every *.Tests.ps1 in BeforeAll: imports the module under test and reads the demo
# (started by pester.test.ts; $env:AMS_DEMO_JSON names its demo.json).
$script:ModulePath = Join-Path $PSScriptRoot '../../psmodule/AccessManager'
Import-Module $script:ModulePath -Force
$script:Demo = Get-Content -Path $env:AMS_DEMO_JSON -Raw | ConvertFrom-Json
$script:UserKeyText = (Get-Content -Path $script:Demo.userKeyFile -Raw).Trim()
$script:AdminKeyText = (Get-Content -Path $script:Demo.adminKeyFile -Raw).Trim()
$script:UserKey = ConvertTo-SecureString -String $script:UserKeyText -AsPlainText -Force
$script:AdminKey = ConvertTo-SecureString -String $script:AdminKeyText -AsPlainText -Force
$script:Allowed = @($script:Demo.allowedDevices)
$script:Denied = @($script:Demo.deniedDevices)

function Connect-AmsDemo {
    param([ValidateSet('User', 'Admin')] [string] $As = 'User')
    $key = $(if ($As -eq 'Admin') { $script:AdminKey } else { $script:UserKey })
    $null = Connect-AmsServer -Uri $script:Demo.url -ApiKey $key
}

function Get-AmsTestPlainPassword {
    # The password as the HTTP API answers it, read without the module (to compare with, or to plant).
    param([string] $ComputerName)
    $body = @{ computerName = $ComputerName } | ConvertTo-Json
    (Invoke-RestMethod -Method Post -Uri ($script:Demo.url + '/v1/secrets/local-admin-password') -Headers @{ Authorization = 'Bearer ' + $script:UserKeyText } -ContentType 'application/json' -Body $body).password
}

# Exploring reads many passwords: the production limits (10 a minute) would refuse most of this suite.
Connect-AmsDemo -As Admin
$null = Set-AmsServiceConfig -UserRateLimitPerMinute 10000 -UserRateLimitPerHour 100000 -UserRateLimitPerDay 1000000 -IpRateLimitPerMinute 10000 -IpRateLimitPerHour 100000 -IpRateLimitPerDay 1000000 -Confirm:$false
Disconnect-AmsServer
