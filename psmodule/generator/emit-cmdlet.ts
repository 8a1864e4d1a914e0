/**
 * One public script per operation: an advanced function with help, typed and validated parameters,
 * ShouldProcess where it changes state, and a process block that builds the request, calls the one
 * private Invoke-AmsRequest, and emits typed objects one by one.
 */
import { helpComment, helpUriFor } from './cmdlet-help.js';
import type { Emitter } from './emitter.js';
import { publicScript } from './layout.js';
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

function parameterAttributes(p: ParameterModel, parameterSets: string[]): string[] {
  const common: string[] = [];
  if (p.position !== undefined) common.push(`Position = ${p.position}`);
  if (p.valueFromPipeline) common.push('ValueFromPipeline = $true');
  if (p.pipeline) common.push('ValueFromPipelineByPropertyName = $true');
  const lines: string[] = [];
  if (p.mandatoryIn.length > 0) {
    for (const set of p.mandatoryIn) lines.push(`[Parameter(${['Mandatory = $true', `ParameterSetName = ${psString(set)}`, ...common].join(', ')})]`);
    // A field that overrides others may be given in their sets too (a piped object binds both).
    if (p.overrides) {
      for (const set of parameterSets.filter((name) => !p.mandatoryIn.includes(name))) {
        lines.push(`[Parameter(${[`ParameterSetName = ${psString(set)}`, ...common.filter((c) => !c.startsWith('Position'))].join(', ')})]`);
      }
    }
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
  const blocks = cmdlet.parameters.map((p) => parameterAttributes(p, cmdlet.parameterSets));
  if (cmdlet.outputFile) {
    blocks.unshift(['[Parameter(Mandatory = $true, Position = 0)]', '[ValidateNotNullOrEmpty()]', '[string]', '$Path']);
    blocks.push(['[Parameter()]', '[switch]', '$NoClobber']);
  }
  if (cmdlet.parameters.some((p) => p.fromFile)) {
    blocks.push(['[Parameter()]', "[ArgumentCompleter({ 'utf8', 'utf8BOM', 'windows-1252', 'latin1', 'unicode', 'bigendianunicode', 'oem' })]", '[string]', '$Encoding']);
  }
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
 * The file's text (Read-AmsTextFile: UTF-8 unless -Encoding says otherwise, refused when it is not). A
 * missing or unreadable file is this cmdlet's error (Ams.<Cmdlet>.PathNotFound, .NotUtf8), so
 * -ErrorAction applies to it, rather than an error that stops the caller's script.
 */
function fileAssignment(key: string, p: ParameterModel, skip: string): string {
  return [
    `$amsFile = Read-AmsTextFile -Path $${p.name} -Encoding $Encoding -CommandName $MyInvocation.MyCommand.Name`,
    `if ($null -ne $amsFile.ErrorRecord) { $PSCmdlet.WriteError($amsFile.ErrorRecord); ${skip} }`,
    `${key} = $amsFile.Text`,
  ].join('\n');
}

function assignment(target: string, p: ParameterModel, each?: ParameterModel): string {
  const key = `$${target}[${psString(p.wireName)}]`;
  const value = p === each ? '$amsEach' : p.type === 'switch' ? `$${p.name}.IsPresent` : `$${p.name}`;
  if (p.nullable) {
    const empty = p.type === 'string' ? `[string]::IsNullOrEmpty($${p.name})` : `$null -eq $${p.name}`;
    return `if (${empty}) { ${key} = $null } else { ${key} = ${value} }`;
  }
  return `${key} = ${value}`;
}

/** Body or query fields that name what a cmdlet acts on, most telling first. */
const NAMING_FIELDS = ['name', 'displayname', 'description', 'computername', 'deviceid', 'user'];

/**
 * `$amsTarget`: what the cmdlet acts on, for ShouldProcess and as the TargetObject of its errors: the
 * path parameters, else the value being worked through, else the field that names the object.
 */
function targetLines(cmdlet: CmdletModel): string[] {
  const pathParams = cmdlet.parameters.filter((p) => p.in === 'path');
  if (pathParams.length > 0) return [`$amsTarget = ${pathParams.map((p) => `[string]$${p.name}`).join(" + '/' + ")}`];
  const each = cmdlet.parameters.find((p) => p.valueFromPipeline);
  const lines = ['$amsTarget = $null'];
  const named = NAMING_FIELDS.flatMap((field) =>
    cmdlet.parameters.filter((p) => p !== each && p.in !== 'path' && p.wireName.toLowerCase() === field && !p.fromFile && (p.type === 'string' || p.type === 'string[]')),
  );
  for (const p of named.reverse()) lines.push(`if ($PSBoundParameters.ContainsKey(${psString(p.name)})) { $amsTarget = [string]$${p.name} }`);
  const file = cmdlet.parameters.find((p) => p.fromFile);
  if (file) lines.push(`if ($PSBoundParameters.ContainsKey(${psString(file.name)})) { $amsTarget = [string]$${file.name} }`);
  if (each) lines.push(`if ($PSBoundParameters.ContainsKey(${psString(each.name)})) { $amsTarget = $amsEach }`);
  return lines;
}

/** The ShouldProcess question, naming the object (its description or name, fetched when a prompt will show it). */
function shouldProcessLines(cmdlet: CmdletModel, I: string, skip: string): string[] {
  const lines: string[] = [];
  if (cmdlet.force) lines.push(`${I}if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) { $ConfirmPreference = 'None' }`);
  let subject = '$amsTarget';
  if (cmdlet.namedBy) {
    const impact = psString(cmdlet.confirmImpact ?? 'Medium');
    lines.push(
      `${I}$amsSubject = Get-AmsShouldProcessSubject -Path ${psString(cmdlet.namedBy.listPath)} -QueryName ${psString(cmdlet.namedBy.query)} -Id $amsTarget -Kind ${psString(cmdlet.namedBy.kind)} -NameProperty ${psString(cmdlet.namedBy.property)} -ConfirmImpact ${impact} -CommandName $MyInvocation.MyCommand.Name`,
    );
    subject = '$amsSubject';
  } else if (cmdlet.subjectKind) {
    const format = cmdlet.parameters.some((p) => p.in === 'path') ? `'{0} {1}'` : `'{0} ''{1}'''`;
    lines.push(`${I}$amsSubject = ${psString(cmdlet.subjectKind)}`);
    lines.push(`${I}if ($null -ne $amsTarget) { $amsSubject = ${format} -f $amsSubject, $amsTarget }`);
    subject = '$amsSubject';
  }
  const question = `$PSCmdlet.ShouldProcess(${subject}, ${psString(cmdlet.summary.replace(/\.\s*$/, ''))})`;
  if (cmdlet.whatIfProperty) {
    // -WhatIf still calls the server, asking it only to say what it would do.
    lines.push(`${I}if (-not ${question}) {`);
    lines.push(`${I}    if ($WhatIfPreference) { $amsBody[${psString(cmdlet.whatIfProperty)}] = $true } else { ${skip} }`);
    lines.push(`${I}}`);
  } else {
    lines.push(`${I}if (-not ${question}) { ${skip} }`);
  }
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

/**
 * The request and what is emitted of its answer. A failure is written as the cmdlet's one error
 * record (Invoke-AmsRequest never throws), and the cmdlet goes on with the next input.
 */
function requestLines(cmdlet: CmdletModel, I: string, skip: string, hasQuery: boolean): string[] {
  const call = [
    'Invoke-AmsRequest',
    `-Method ${psString(cmdlet.method)}`,
    '-Path $amsPath',
    ...(hasQuery ? ['-Query $amsQuery'] : []),
    ...(cmdlet.hasBody ? ['-Body $amsBody'] : []),
    '-CommandName $MyInvocation.MyCommand.Name',
    '-Target $amsTarget',
  ].join(' ');
  return [
    `${I}$amsResult = ${call}`,
    `${I}if (-not $amsResult.Succeeded) {`,
    `${I}    $PSCmdlet.WriteError($amsResult.ErrorRecord)`,
    `${I}    ${skip}`,
    `${I}}`,
    `${I}$amsResponse = $amsResult.Content`,
  ];
}

function processBlock(cmdlet: CmdletModel): string[] {
  const each = cmdlet.parameters.find((p) => p.valueFromPipeline);
  const lines: string[] = [];
  // With a parameter that takes many values (-ComputerName A,B or strings piped in), one request per value.
  const I = each ? '            ' : '        ';
  const skip = each ? 'continue' : 'return';
  if (each) {
    lines.push(`        $amsValues = @($null)`);
    lines.push(`        if ($PSBoundParameters.ContainsKey(${psString(each.name)})) { $amsValues = @($${each.name}) }`);
    lines.push(`        foreach ($amsEach in $amsValues) {`);
  }
  lines.push(`${I}$amsPath = ${pathExpression(cmdlet)}`);
  const query = cmdlet.parameters.filter((p) => p.in === 'query');
  const body = cmdlet.parameters.filter((p) => p.in === 'body');
  const paged = cmdlet.output?.emit === 'paged';
  const hasQuery = query.length > 0 || paged;
  const given = (p: ParameterModel) => (p === each ? `$null -ne $amsEach` : `$PSBoundParameters.ContainsKey(${psString(p.name)})`);
  const bound = (p: ParameterModel) => {
    const overriders = cmdlet.parameters.filter((q) => q.overrides?.includes(p.wireName));
    return [given(p), ...overriders.map((q) => `-not ${given(q)}`)].join(' -and ');
  };
  if (hasQuery) {
    lines.push(`${I}$amsQuery = [ordered]@{}`);
    for (const p of query) lines.push(`${I}if (${bound(p)}) { ${assignment('amsQuery', p, each)} }`);
  }
  if (cmdlet.hasBody) {
    lines.push(`${I}$amsBody = [ordered]@{}`);
    for (const p of body) {
      if (p.fromFile) {
        lines.push(`${I}if (${bound(p)}) {`);
        lines.push(...fileAssignment(`$amsBody[${psString(p.wireName)}]`, p, skip).split('\n').map((l) => `${I}    ${l}`));
        lines.push(`${I}}`);
      } else {
        lines.push(`${I}if (${bound(p)}) { ${assignment('amsBody', p, each)} }`);
      }
    }
  }
  lines.push(...targetLines(cmdlet).map((l) => I + l));
  if (cmdlet.shouldProcess) lines.push(...shouldProcessLines(cmdlet, I, skip));

  if (!paged) {
    lines.push(...requestLines(cmdlet, I, skip, hasQuery));
    if (cmdlet.outputFile) {
      lines.push(`${I}$amsFailure = Write-AmsTextFile -Path $Path -Text ([string]$amsResponse.${cmdlet.outputFile}) -NoClobber:$NoClobber -CommandName $MyInvocation.MyCommand.Name`);
      lines.push(`${I}if ($null -ne $amsFailure) { $PSCmdlet.WriteError($amsFailure); ${skip} }`);
      lines.push(`${I}Write-Verbose ('Wrote {0}' -f $Path)`);
    }
    if (cmdlet.output) {
      lines.push(...emitObjects(cmdlet, cmdlet.output.emit === 'items' ? '$amsResponse.items' : '$amsResponse', I));
    }
  } else {
    const cursor = psString(cmdlet.cursorParameter ?? 'cursor');
    const P = I + '    ';
    lines.push(`${I}if ($PSCmdlet.PagingParameters.IncludeTotalCount) { $PSCmdlet.PagingParameters.NewTotalCount(0, 0.0) }`);
    lines.push(`${I}$amsEmitted = [uint64]0`);
    lines.push(`${I}$amsSkipped = [uint64]0`);
    lines.push(`${I}do {`);
    // break: out of the pages (on to the next value, if any), not out of the pipeline.
    lines.push(...requestLines(cmdlet, P, 'break', hasQuery));
    lines.push(`${P}foreach ($amsItem in $amsResponse.items) {`);
    lines.push(`${P}    if ($amsSkipped -lt $PSCmdlet.PagingParameters.Skip) { $amsSkipped++; continue }`);
    lines.push(`${P}    if ($amsEmitted -ge $PSCmdlet.PagingParameters.First) { break }`);
    lines.push(`${P}    $amsEmitted++`);
    lines.push(`${P}    ConvertTo-AmsOutput -InputObject $amsItem -Shape ${psString(cmdlet.output!.shape)}${cmdlet.asPlainText ? ' -AsPlainText:$AsPlainText' : ''}`);
    lines.push(`${P}}`);
    lines.push(`${P}$amsCursor = Get-AmsProperty -InputObject $amsResponse -Name 'nextCursor'`);
    lines.push(`${P}$amsQuery[${cursor}] = $amsCursor`);
    // No request for a page nobody will see once -First is satisfied.
    lines.push(`${I}} while ($amsCursor -and $amsEmitted -lt $PSCmdlet.PagingParameters.First)`);
  }
  if (each) lines.push('        }');
  return lines;
}

function cmdletScript(module: ModuleModel, cmdlet: CmdletModel, header: string): string {
  const lines = [
    header,
    `function ${cmdlet.name} {`,
    helpComment(module, cmdlet),
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

/** One public script per cmdlet. */
export const emitCmdlets: Emitter = (module, { header }) =>
  module.cmdlets.map((cmdlet) => ({ path: publicScript(cmdlet.name), content: cmdletScript(module, cmdlet, header) }));
