function ConvertTo-AmsOutput {
    <#
    .SYNOPSIS
    Turns one JSON object of the API into the object the module emits.

    .DESCRIPTION
    Reads the shape $script:AmsShapes holds for it: PascalCase properties in the contract's order,
    dates as [datetime] (local time), secrets as SecureString unless -AsPlainText, nested objects
    converted the same way, and the type names (Ams.<Schema>) the format views are keyed by. Properties
    the contract does not know yet are kept, PascalCased.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [AllowNull()]
        [object]
        $InputObject,

        [Parameter(Mandatory = $true)]
        [string]
        $Shape,

        [switch]
        $AsPlainText
    )

    if ($null -eq $InputObject) { return }
    $definition = $script:AmsShapes[$Shape]
    if ($null -eq $definition -or $InputObject -is [string] -or $InputObject -is [System.ValueType]) {
        return $InputObject
    }

    $properties = [ordered]@{}
    $known = @{}
    foreach ($property in $definition.Properties) {
        $from = $InputObject
        if ($property.ContainsKey('Parent')) {
            # A child of a nested object, flattened into this one (outcome.code as Outcome).
            $known[$property.Parent] = $true
            $from = Get-AmsProperty -InputObject $InputObject -Name $property.Parent
        } else {
            $known[$property.Wire] = $true
        }
        $source = $null
        if ($null -ne $from) { $source = $from.PSObject.Properties[$property.Wire] }
        $value = $null
        if ($null -ne $source) {
            $value = ConvertTo-AmsOutputValue -Value $source.Value -Kind $property.Kind -Shape $property['Shape'] -AsPlainText:$AsPlainText
        }
        $properties[$property.Name] = $value
    }
    foreach ($source in $InputObject.PSObject.Properties) {
        if (-not $known.ContainsKey($source.Name)) {
            $properties[(ConvertTo-AmsPascalCase -Name $source.Name)] = $source.Value
        }
    }

    $output = [pscustomobject]$properties
    for ($index = $definition.TypeNames.Count - 1; $index -ge 0; $index--) {
        $output.PSObject.TypeNames.Insert(0, $definition.TypeNames[$index])
    }
    $output
}

function ConvertTo-AmsOutputValue {
    param(
        [AllowNull()]
        [object]
        $Value,

        [string]
        $Kind,

        [string]
        $Shape,

        [switch]
        $AsPlainText
    )
    if ($null -eq $Value) { return $null }
    switch ($Kind) {
        'datetime' { return ConvertTo-AmsDateTime -Value $Value }
        'secret' { return ConvertTo-AmsSecret -Value $Value -AsPlainText:$AsPlainText }
        'object' { return ConvertTo-AmsOutput -InputObject $Value -Shape $Shape -AsPlainText:$AsPlainText }
        'objects' {
            $items = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Value) { $items.Add((ConvertTo-AmsOutput -InputObject $item -Shape $Shape -AsPlainText:$AsPlainText)) }
            return , $items.ToArray()
        }
        'datetimes' {
            $items = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Value) { $items.Add((ConvertTo-AmsDateTime -Value $item)) }
            return , $items.ToArray()
        }
        'secrets' {
            $items = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Value) { $items.Add((ConvertTo-AmsSecret -Value $item -AsPlainText:$AsPlainText)) }
            return , $items.ToArray()
        }
        'values' { return , @($Value) }
    }
    $Value
}

function ConvertTo-AmsDateTime {
    # PowerShell 7 has already made a [datetime] of an ISO 8601 string; 5.1 has not.
    param($Value)
    $date = $Value
    if ($Value -is [string]) {
        if ($Value.Length -eq 0) { return $null }
        $date = [datetime]::Parse($Value, [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::RoundtripKind)
    } elseif ($Value -is [System.DateTimeOffset]) {
        $date = $Value.UtcDateTime
    }
    if ($date -is [datetime] -and $date.Kind -eq [System.DateTimeKind]::Utc) { return $date.ToLocalTime() }
    $date
}

function ConvertTo-AmsSecret {
    param($Value, [switch] $AsPlainText)
    $text = [string]$Value
    if ($AsPlainText) { return $text }
    if ($text.Length -eq 0) { return [System.Security.SecureString]::new() }
    ConvertTo-SecureString -String $text -AsPlainText -Force
}

function ConvertTo-AmsPascalCase {
    param([string] $Name)
    if ([string]::IsNullOrEmpty($Name)) { return $Name }
    $Name.Substring(0, 1).ToUpperInvariant() + $Name.Substring(1)
}
