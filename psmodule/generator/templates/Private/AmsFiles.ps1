function Read-AmsTextFile {
    <#
    .SYNOPSIS
    Reads a text file for a cmdlet; never throws.

    .DESCRIPTION
    Without -Encoding, the file must be UTF-8 (with or without a byte order mark; UTF-16 is recognised
    by its mark). A file in another encoding (Excel's "CSV (comma delimited)" saves the ANSI code page)
    would otherwise be sent mangled, so it is refused with a message saying how to fix it. Answers Text,
    or ErrorRecord (Ams.<Cmdlet>.PathNotFound, .NotUtf8, .UnknownEncoding).
    #>
    param(
        [Parameter(Mandatory = $true)] [string] $Path,
        [AllowEmptyString()] [string] $Encoding,
        [Parameter(Mandatory = $true)] [string] $CommandName
    )
    $fail = {
        param([string] $Id, [string] $Message, [System.Management.Automation.ErrorCategory] $Category)
        $exception = [System.IO.InvalidDataException]::new($Message)
        [pscustomobject]@{ Text = $null; ErrorRecord = [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.{1}' -f $CommandName, $Id), $Category, $Path) }
    }
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    if (-not [System.IO.File]::Exists($full)) {
        return & $fail 'PathNotFound' ('Cannot find the file {0}.' -f $full) ([System.Management.Automation.ErrorCategory]::ObjectNotFound)
    }
    $bytes = $null
    try {
        $bytes = [System.IO.File]::ReadAllBytes($full)
    } catch {
        return & $fail 'PathNotFound' ('Cannot read the file {0}: {1}' -f $full, $_.Exception.Message) ([System.Management.Automation.ErrorCategory]::ReadError)
    }

    if ($Encoding) {
        $decoder = $null
        try {
            $decoder = switch ($Encoding.ToLowerInvariant()) {
                'utf8' { [System.Text.UTF8Encoding]::new($false) }
                'utf8bom' { [System.Text.UTF8Encoding]::new($true) }
                'unicode' { [System.Text.Encoding]::Unicode }
                'bigendianunicode' { [System.Text.Encoding]::BigEndianUnicode }
                'latin1' { [System.Text.Encoding]::GetEncoding(28591) }
                'oem' { [System.Text.Encoding]::GetEncoding([System.Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage) }
                default { if ($Encoding -match '^\d+$') { [System.Text.Encoding]::GetEncoding([int]$Encoding) } else { [System.Text.Encoding]::GetEncoding($Encoding) } }
            }
        } catch {
            return & $fail 'UnknownEncoding' ('"{0}" is not an encoding this PowerShell knows: give a name such as utf8, windows-1252 or latin1, or a code page number.' -f $Encoding) ([System.Management.Automation.ErrorCategory]::InvalidArgument)
        }
        $text = $decoder.GetString($bytes)
        return [pscustomobject]@{ Text = $text.TrimStart([char]0xFEFF); ErrorRecord = $null }
    }

    if ($bytes.Length -ge 2 -and (($bytes[0] -eq 0xFF -and $bytes[1] -eq 0xFE) -or ($bytes[0] -eq 0xFE -and $bytes[1] -eq 0xFF))) {
        $utf16 = $(if ($bytes[0] -eq 0xFF) { [System.Text.Encoding]::Unicode } else { [System.Text.Encoding]::BigEndianUnicode })
        return [pscustomobject]@{ Text = $utf16.GetString($bytes, 2, $bytes.Length - 2); ErrorRecord = $null }
    }
    # Decoded with replacement: a U+FFFD the file did not contain as UTF-8 (EF BF BD) marks bytes that are not UTF-8.
    $text = [System.Text.UTF8Encoding]::new($false, $false).GetString($bytes)
    $replacements = ([regex]::Matches($text, [string][char]0xFFFD)).Count
    if ($replacements -gt 0) {
        $encodedReplacements = ([regex]::Matches([System.Text.Encoding]::GetEncoding(28591).GetString($bytes), [string]([char]0xEF) + [char]0xBF + [char]0xBD)).Count
        if ($replacements -gt $encodedReplacements) {
            $line = ($text.Substring(0, $text.IndexOf([char]0xFFFD)) -split "`n").Count
            return & $fail 'NotUtf8' ('{0} is not UTF-8 (line {1} has bytes that are not): it was probably saved by Excel as "CSV (comma delimited)", in the ANSI code page. Save it as "CSV UTF-8" instead, or say its encoding with -Encoding (for example -Encoding windows-1252).' -f $full, $line) ([System.Management.Automation.ErrorCategory]::InvalidData)
        }
    }
    [pscustomobject]@{ Text = $text.TrimStart([char]0xFEFF); ErrorRecord = $null }
}

function Write-AmsTextFile {
    <#
    .SYNOPSIS
    Writes a text file for a cmdlet (UTF-8 with a byte order mark, which Excel needs to read it as
    UTF-8); never throws. Answers an ErrorRecord, or $null when the file was written.
    #>
    param(
        [Parameter(Mandatory = $true)] [string] $Path,
        [Parameter(Mandatory = $true)] [AllowEmptyString()] [string] $Text,
        [switch] $NoClobber,
        [Parameter(Mandatory = $true)] [string] $CommandName
    )
    $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    if ($NoClobber -and [System.IO.File]::Exists($full)) {
        $exception = [System.IO.IOException]::new(('The file {0} already exists, and -NoClobber says not to replace it.' -f $full))
        return [System.Management.Automation.ErrorRecord]::new($exception, ('Ams.{0}.FileExists' -f $CommandName), [System.Management.Automation.ErrorCategory]::ResourceExists, $Path)
    }
    try {
        [System.IO.File]::WriteAllText($full, $Text, [System.Text.UTF8Encoding]::new($true))
    } catch {
        return [System.Management.Automation.ErrorRecord]::new($_.Exception, ('Ams.{0}.WriteError' -f $CommandName), [System.Management.Automation.ErrorCategory]::WriteError, $Path)
    }
    $null
}
