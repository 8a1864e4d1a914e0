/**
 * One public script per operation: an advanced function with help, typed and validated parameters,
 * ShouldProcess where it changes state, and a process block that builds the request, calls the one
 * private Invoke-AmsRequest, and emits typed objects one by one.
 */
import { emitHelp, helpUriFor } from './emit-help.js';
import type { CmdletModel, InputType, ModuleModel, ParameterModel } from './model.js';
import { psString } from './powershell.js';

const TYPE_LITERALS: Record<InputType, string> = {
  string: '[string]',
  int: '[int]',
  long: '[long]',
  double: '[double]',
  datetime: '[datetime]',
  switch: '[switch]',
  bool: '[bool]',
  SecureString: '[System.Security.SecureString]',
  'string[]': '[string[]]',
  'int[]': '[int[]]',
  'long[]': '[long[]]',
  'double[]': '[double[]]',
  'datetime[]': '[datetime[]]',
  hashtable: '[hashtable]',
  'hashtable[]': '[hashtable[]]',
  object: '[object]',
};

/** Nullable value types take $null to clear a field (a [datetime] could not be given an empty string). */
const NULLABLE_VALUE_TYPES: Partial<Record<InputType, string>> = {
  int: '[Nullable[int]]',
  long: '[Nullable[long]]',
  double: '[Nullable[double]]',
  datetime: '[Nullable[datetime]]',
  bool: '[Nullable[bool]]',
};

function typeLiteral(p: ParameterModel): string {
  return (p.nullable ? NULLABLE_VALUE_TYPES[p.type] : undefined) ?? TYPE_LITERALS[p.type];
}

function parameterAttributes(p: ParameterModel): string[] {
  const common: string[] = [];
  if (p.position !== undefined) common.push(`Position = ${p.position}`);
  if (p.pipeline) common.push('ValueFromPipelineByPropertyName = $true');
  const lines: string[] = [];
  if (p.mandatoryIn.length > 0) {
    for (const set of p.mandatoryIn) lines.push(`[Parameter(${['Mandatory = $true', `ParameterSetName = ${psString(set)}`, ...common].join(', ')})]`);
  } else {
    lines.push(`[Parameter(${[...(p.required ? ['Mandatory = $true'] : []), ...common].join(', ')})]`);
  }
  if (p.aliases.length > 0) lines.push(`[Alias(${p.aliases.map(psString).join(', ')})]`);
  if (p.in === 'path') lines.push('[ValidateNotNullOrEmpty()]');
  if (p.nullable && p.type === 'string') lines.push('[AllowEmptyString()]');
  if (p.validateSet) {
    // ValidateSet ignores case unless told; values that differ only by case must then be told apart.
    const folded = new Set(p.validateSet.map((v) => v.toLowerCase()));
    const ignoreCase = folded.size === p.validateSet.length ? '' : ', IgnoreCase = $false';
    lines.push(`[ValidateSet(${p.validateSet.map(psString).join(', ')}${ignoreCase})]`);
  }
  if (p.validateLength) lines.push(`[ValidateLength(${p.validateLength[0]}, ${p.validateLength[1]})]`);
  if (p.validateRange) lines.push(`[ValidateRange(${p.validateRange[0]}, ${p.validateRange[1]})]`);
  if (p.validatePattern) lines.push(`[ValidatePattern(${psString(p.validatePattern)})]`);
  lines.push(typeLiteral(p));
  lines.push(`$${p.name}`);
  return lines;
}

function paramBlock(cmdlet: CmdletModel): string[] {
  const blocks = cmdlet.parameters.map(parameterAttributes);
  if (cmdlet.force) blocks.push(['[Parameter()]', '[switch]', '$Force']);
  if (cmdlet.asPlainText) blocks.push(['[Parameter()]', '[switch]', '$AsPlainText']);
  if (blocks.length === 0) return ['    param()'];
  const lines = ['    param('];
  blocks.forEach((block, index) => {
    block.forEach((line, i) => lines.push(`        ${line}${i === block.length - 1 && index < blocks.length - 1 ? ',' : ''}`));
    if (index < blocks.length - 1) lines.push('');
  });
  lines.push('    )');
  return lines;
}

function cmdletBinding(module: ModuleModel, cmdlet: CmdletModel): string {
  const args: string[] = [];
  if (cmdlet.parameterSets[0]) args.push(`DefaultParameterSetName = ${psString(cmdlet.parameterSets[0])}`);
  args.push('PositionalBinding = $false');
  if (cmdlet.shouldProcess) args.push('SupportsShouldProcess = $true');
  if (cmdlet.confirmImpact) args.push(`ConfirmImpact = ${psString(cmdlet.confirmImpact)}`);
  if (cmdlet.output?.emit === 'paged') args.push('SupportsPaging = $true');
  if (module.helpUri) args.push(`HelpUri = ${psString(helpUriFor(module.helpUri, cmdlet))}`);
  return `    [CmdletBinding(${args.join(', ')})]`;
}

/** `'/v1/api-keys/' + [uri]::EscapeDataString([string]$Id)`. */
export function pathExpression(cmdlet: CmdletModel): string {
  const parts: string[] = [];
  let rest = cmdlet.path;
  for (const match of cmdlet.path.matchAll(/\{([^}]+)\}/g)) {
    const before = rest.slice(0, rest.indexOf(match[0]));
    if (before) parts.push(psString(before));
    const p = cmdlet.parameters.find((q) => q.in === 'path' && q.wireName === match[1])!;
    parts.push(`[uri]::EscapeDataString([string]$${p.name})`);
    rest = rest.slice(rest.indexOf(match[0]) + match[0].length);
  }
  if (rest) parts.push(psString(rest));
  return parts.join(' + ');
}

/**
 * The file's text, read as .NET reads it (UTF-8 unless a byte order mark says otherwise) in both
 * editions. A missing or unreadable file is this cmdlet's error (Ams.<Cmdlet>.PathNotFound), so
 * -ErrorAction applies to it, rather than a Resolve-Path error that stops the caller's script.
 */
function fileAssignment(key: string, p: ParameterModel): string {
  return [
    'try {',
    `    ${key} = [System.IO.File]::ReadAllText((Resolve-Path -LiteralPath $${p.name} -ErrorAction Stop).ProviderPath)`,
    '} catch {',
    `    $amsRecord = [System.Management.Automation.ErrorRecord]::new($_.Exception, ('Ams.{0}.PathNotFound' -f $MyInvocation.MyCommand.Name), [System.Management.Automation.ErrorCategory]::ObjectNotFound, $${p.name})`,
    `    $PSCmdlet.WriteError($amsRecord)`,
    '    return',
    '}',
  ].join('\n');
}

function assignment(target: string, p: ParameterModel): string {
  const key = `$${target}[${psString(p.wireName)}]`;
  if (p.fromFile) return fileAssignment(key, p);
  const value = p.type === 'switch' ? `$${p.name}.IsPresent` : `$${p.name}`;
  if (p.nullable) {
    const empty = p.type === 'string' ? `[string]::IsNullOrEmpty($${p.name})` : `$null -eq $${p.name}`;
    return `if (${empty}) { ${key} = $null } else { ${key} = ${value} }`;
  }
  return `${key} = ${value}`;
}

function shouldProcessTarget(cmdlet: CmdletModel): string[] {
  const pathParams = cmdlet.parameters.filter((p) => p.in === 'path');
  if (pathParams.length > 0) return [`$amsTarget = ${pathParams.map((p) => `[string]$${p.name}`).join(" + '/' + ")}`];
  const lines = ['$amsTarget = $amsPath'];
  const named =
    cmdlet.parameters.find((p) => p.in === 'body' && ['name', 'displayname', 'computername'].includes(p.wireName.toLowerCase()) && p.type === 'string') ??
    cmdlet.parameters.find((p) => p.in === 'body' && p.required && p.type === 'string');
  if (named) lines.push(`if ($PSBoundParameters.ContainsKey(${psString(named.name)})) { $amsTarget = [string]$${named.name} }`);
  return lines;
}

function emitObjects(cmdlet: CmdletModel, source: string, indentBy: string): string[] {
  const output = cmdlet.output!;
  const convert = `ConvertTo-AmsOutput -InputObject $amsItem -Shape ${psString(output.shape)}${cmdlet.asPlainText ? ' -AsPlainText:$AsPlainText' : ''}`;
  if (output.emit === 'object') {
    return [`${indentBy}ConvertTo-AmsOutput -InputObject $amsResponse -Shape ${psString(output.shape)}${cmdlet.asPlainText ? ' -AsPlainText:$AsPlainText' : ''}`];
  }
  return [`${indentBy}foreach ($amsItem in ${source}) {`, `${indentBy}    ${convert}`, `${indentBy}}`];
}

function processBlock(cmdlet: CmdletModel): string[] {
  const I = '        ';
  const lines: string[] = [];
  lines.push(`${I}$amsPath = ${pathExpression(cmdlet)}`);
  const query = cmdlet.parameters.filter((p) => p.in === 'query');
  const body = cmdlet.parameters.filter((p) => p.in === 'body');
  const paged = cmdlet.output?.emit === 'paged';
  if (query.length > 0 || paged) {
    lines.push(`${I}$amsQuery = [ordered]@{}`);
    for (const p of query) lines.push(`${I}if ($PSBoundParameters.ContainsKey(${psString(p.name)})) { ${assignment('amsQuery', p)} }`);
  }
  if (cmdlet.hasBody) {
    lines.push(`${I}$amsBody = [ordered]@{}`);
    for (const p of body) {
      if (p.fromFile) {
        lines.push(`${I}if ($PSBoundParameters.ContainsKey(${psString(p.name)})) {`);
        lines.push(...assignment('amsBody', p).split('\n').map((l) => `${I}    ${l}`));
        lines.push(`${I}}`);
      } else {
        lines.push(`${I}if ($PSBoundParameters.ContainsKey(${psString(p.name)})) { ${assignment('amsBody', p)} }`);
      }
    }
  }
  if (cmdlet.shouldProcess) {
    lines.push(...shouldProcessTarget(cmdlet).map((l) => I + l));
    if (cmdlet.force) {
      lines.push(`${I}if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) { $ConfirmPreference = 'None' }`);
    }
    const question = `$PSCmdlet.ShouldProcess($amsTarget, ${psString(cmdlet.summary.replace(/\.\s*$/, ''))})`;
    if (cmdlet.whatIfProperty) {
      // -WhatIf still calls the server, asking it only to say what it would do.
      lines.push(`${I}if (-not ${question}) {`);
      lines.push(`${I}    if ($WhatIfPreference) { $amsBody[${psString(cmdlet.whatIfProperty)}] = $true } else { return }`);
      lines.push(`${I}}`);
    } else {
      lines.push(`${I}if (-not ${question}) { return }`);
    }
  }
  const call = [
    'Invoke-AmsRequest',
    `-Method ${psString(cmdlet.method)}`,
    '-Path $amsPath',
    ...(query.length > 0 || paged ? ['-Query $amsQuery'] : []),
    ...(cmdlet.hasBody ? ['-Body $amsBody'] : []),
    '-CommandName $MyInvocation.MyCommand.Name',
  ].join(' ');
  const request = (indentBy: string) => [
    `${indentBy}try {`,
    `${indentBy}    $amsResponse = ${call}`,
    `${indentBy}} catch {`,
    `${indentBy}    $PSCmdlet.WriteError($_)`,
    `${indentBy}    return`,
    `${indentBy}}`,
  ];

  if (!paged) {
    lines.push(...request(I));
    if (cmdlet.output) {
      lines.push(...emitObjects(cmdlet, cmdlet.output.emit === 'items' ? '$amsResponse.items' : '$amsResponse', I));
    }
    return lines;
  }
  const cursor = psString(cmdlet.cursorParameter ?? 'cursor');
  lines.push(`${I}if ($PSCmdlet.PagingParameters.IncludeTotalCount) { $PSCmdlet.PagingParameters.NewTotalCount(0, 0.0) }`);
  lines.push(`${I}$amsEmitted = [uint64]0`);
  lines.push(`${I}$amsSkipped = [uint64]0`);
  lines.push(`${I}do {`);
  lines.push(...request(`${I}    `));
  lines.push(`${I}    foreach ($amsItem in $amsResponse.items) {`);
  lines.push(`${I}        if ($amsSkipped -lt $PSCmdlet.PagingParameters.Skip) { $amsSkipped++; continue }`);
  lines.push(`${I}        if ($amsEmitted -ge $PSCmdlet.PagingParameters.First) { return }`);
  lines.push(`${I}        $amsEmitted++`);
  lines.push(
    `${I}        ConvertTo-AmsOutput -InputObject $amsItem -Shape ${psString(cmdlet.output!.shape)}${cmdlet.asPlainText ? ' -AsPlainText:$AsPlainText' : ''}`,
  );
  lines.push(`${I}    }`);
  lines.push(`${I}    $amsCursor = $amsResponse.nextCursor`);
  lines.push(`${I}    $amsQuery[${cursor}] = $amsCursor`);
  // No request for a page nobody will see once -First is satisfied.
  lines.push(`${I}} while ($amsCursor -and $amsEmitted -lt $PSCmdlet.PagingParameters.First)`);
  return lines;
}

export function emitCmdlet(module: ModuleModel, cmdlet: CmdletModel, header: string): string {
  const lines = [
    header,
    `function ${cmdlet.name} {`,
    emitHelp(module, cmdlet),
    cmdletBinding(module, cmdlet),
    ...(cmdlet.output ? [`    [OutputType(${psString(cmdlet.output.typeName)})]`] : []),
    ...paramBlock(cmdlet),
    '',
    '    process {',
    ...processBlock(cmdlet),
    '    }',
    '}',
  ];
  return lines.join('\n') + '\n';
}
