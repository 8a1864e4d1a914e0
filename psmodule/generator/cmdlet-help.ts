/**
 * Comment-based help (about_Comment_Based_Help) for a generated cmdlet: synopsis from the operation's
 * summary, description, every parameter, examples (the spec's `x-ams-examples`, else synthesized from
 * the parameters and from the cmdlets whose output can be piped in), inputs, outputs, notes and links.
 */
import type { CmdletModel, ExampleModel, ModuleModel, ParameterModel } from './model.js';
import { helpText, indent, psString } from './powershell.js';

const GUID_SAMPLE = '6f2d1c3a-0b4e-4f5a-9c7d-2e8f1a3b4c5d';

/** Names whose values examples can show without the spec's help: value and the name's pattern. */
const NAMED_SAMPLES: Array<[RegExp, string]> = [
  [/(computer|device)name$/i, 'PC-0001'],
  [/displayname$/i, 'Contoso'],
  [/^(reason|notes?|description)$/i, 'Ticket 4711'],
  [/(user|principal)$/i, 'alice@contoso.com'],
];

/**
 * A PowerShell expression that is a plausible value of the parameter, for examples, and whether it is
 * specific (from the spec's `example`, an enum, an "e.g. `...`" in the description, the name) rather
 * than a placeholder.
 */
export function sample(p: ParameterModel): { code: string; specific: boolean } {
  if (p.type === 'SecureString') return { code: `(Read-Host -AsSecureString -Prompt ${psString(p.name)})`, specific: true };
  if (p.type === 'switch') return { code: '', specific: true };
  const example = p.example;
  if (typeof example === 'string' || typeof example === 'number' || typeof example === 'boolean') {
    return { code: literal(p, String(example)), specific: true };
  }
  if (p.validateSet?.[0]) return { code: psString(p.validateSet[0]), specific: true };
  switch (p.type) {
    case 'datetime':
    case 'datetime[]':
      return { code: '(Get-Date).AddDays(30)', specific: true };
    case 'int':
    case 'long':
    case 'double':
    case 'int[]':
    case 'long[]':
    case 'double[]':
      return { code: String(typeof p.defaultValue === 'number' ? p.defaultValue : (p.validateRange?.[0] ?? 10)), specific: false };
    case 'bool':
      return { code: p.defaultValue === true ? '$false' : '$true', specific: true };
    case 'hashtable':
    case 'hashtable[]':
    case 'object':
      return { code: '@{}', specific: false };
    default:
      break;
  }
  if (p.format === 'uuid') return { code: psString(GUID_SAMPLE), specific: false };
  // Descriptions often say what a value looks like: "e.g. `PC-0001`".
  const hinted = /e\.g\.,? `([^`\n]{1,80})`/.exec(p.description);
  if (hinted?.[1]) return { code: literal(p, hinted[1]), specific: true };
  const named = NAMED_SAMPLES.find(([pattern]) => pattern.test(p.wireName));
  if (named) return { code: psString(named[1]), specific: true };
  return { code: psString(p.format === 'uri' ? 'https://example.net' : 'example'), specific: false };
}

/** A PowerShell expression that is a plausible value of the parameter. */
export function sampleValue(p: ParameterModel): string {
  return sample(p).code;
}

function literal(p: ParameterModel, text: string): string {
  if (['int', 'long', 'double', 'int[]', 'long[]', 'double[]'].includes(p.type) && /^-?\d+(\.\d+)?$/.test(text)) return text;
  if (p.type === 'bool') return /^true$/i.test(text) ? '$true' : '$false';
  return psString(text);
}

function argument(p: ParameterModel): string {
  const value = sampleValue(p);
  return value ? `-${p.name} ${value}` : `-${p.name}`;
}

/** The parameters that must be given in the cmdlet's default parameter set. */
export function mandatoryInDefaultSet(cmdlet: CmdletModel): ParameterModel[] {
  const defaultSet = cmdlet.parameterSets[0];
  return cmdlet.parameters.filter((p) => p.required || (defaultSet !== undefined && p.mandatoryIn.includes(defaultSet)));
}

interface PipelineSource {
  source: CmdletModel;
  parameter: ParameterModel;
  property: string;
}

/**
 * A Get cmdlet whose output can be piped into this one, binding a pipeline parameter by property name:
 * one of the same noun (Get-AmsApiKey | Remove-AmsApiKey), or the one whose noun the parameter is the
 * id of (DeviceId: Get-AmsDevice). Any other cmdlet with such a property only for a mandatory
 * parameter: an `Id` of something else means another thing.
 */
export function pipelineSource(module: ModuleModel, cmdlet: CmdletModel): PipelineSource | undefined {
  const rank = (p: ParameterModel) => (p.required ? 0 : p.mandatoryIn.length > 0 ? 1 : 2);
  const candidates = cmdlet.parameters.filter((p) => p.pipeline).sort((a, b) => rank(a) - rank(b));
  const getters = module.cmdlets.filter((c) => c !== cmdlet && c.verb === 'Get' && c.output);
  for (const parameter of candidates) {
    const names = [parameter.name, ...parameter.aliases].map((n) => n.toLowerCase());
    const entity = (c: CmdletModel) => names.includes(`${c.noun.slice(3)}Id`.toLowerCase()) || names.includes(`${c.noun.slice(3)}Name`.toLowerCase());
    const sources = [
      ...getters.filter((c) => c.noun === cmdlet.noun),
      ...getters.filter((c) => c.noun !== cmdlet.noun && entity(c)),
      ...(rank(parameter) < 2 ? getters.filter((c) => c.noun !== cmdlet.noun && !entity(c)) : []),
    ];
    for (const source of sources) {
      const shape = module.shapes.get(source.output!.shape);
      const property = shape?.properties.find((p) => names.includes(p.name.toLowerCase()));
      if (property) return { source, parameter, property: property.name };
    }
  }
  return undefined;
}

/** Examples of a cmdlet: the spec's, or a direct call, a -WhatIf call and a pipeline. */
export function examplesFor(module: ModuleModel, cmdlet: CmdletModel): ExampleModel[] {
  if (cmdlet.examples.length > 0) return cmdlet.examples;
  const examples: ExampleModel[] = [];
  const mandatory = mandatoryInDefaultSet(cmdlet);
  // A request body with nothing required still needs something (a device to read, a field to change):
  // show its first field.
  const firstBody = cmdlet.parameters.find((p) => p.in === 'body');
  const extra = firstBody && !mandatory.some((p) => p.in === 'body') ? [firstBody] : [];
  const call = [cmdlet.name, ...[...mandatory, ...extra].map(argument)].join(' ');
  examples.push({
    code: cmdlet.asPlainText ? `${call} -AsPlainText` : call,
    description: `${cmdlet.summary}${cmdlet.asPlainText ? ' -AsPlainText shows the secrets as plain text; without it they are SecureString objects.' : ''}`,
  });
  if (cmdlet.shouldProcess) {
    examples.push({
      code: `${call} -WhatIf`,
      description: 'Shows what the command would do, without doing it.',
    });
  }
  const piped = pipelineSource(module, cmdlet);
  if (piped) {
    const sourceArgs = mandatoryInDefaultSet(piped.source).map(argument);
    // A filter with an example value in the spec makes the pipeline read like a real one.
    const filter = piped.source.parameters.find((p) => p.in === 'query' && !p.required && p.type === 'string' && sample(p).specific);
    if (filter && sourceArgs.length === 0) sourceArgs.push(argument(filter));
    const rest = [...mandatory, ...(piped.parameter.in === 'body' ? [] : extra)]
      .filter((p) => p !== piped.parameter && !(p.pipeline && p.in === 'path'))
      .map(argument);
    if (cmdlet.shouldProcess) rest.push('-WhatIf');
    examples.push({
      code: [[piped.source.name, ...sourceArgs].join(' '), [cmdlet.name, ...rest].join(' ')].join(' | '),
      description:
        `Pipes what ${piped.source.name} returns into ${cmdlet.name}: the ${piped.property} property of each object binds to -${piped.parameter.name}.` +
        (cmdlet.shouldProcess ? ' -WhatIf shows what would be done to each; leave it out to do it.' : ''),
    });
  }
  return examples;
}

function parameterHelp(p: ParameterModel): string {
  const parts = [p.description];
  if (p.type === 'SecureString') parts.push('A SecureString: read it with Read-Host -AsSecureString or take it from a credential; it is turned into plain text only to be sent.');
  if (p.nullable) parts.push(p.type === 'string' ? 'Give an empty string to clear it.' : 'Give $null to clear it.');
  if (p.defaultValue !== undefined && typeof p.defaultValue !== 'object') {
    parts.push(`When not given, the server uses ${typeof p.defaultValue === 'string' ? p.defaultValue : JSON.stringify(p.defaultValue)}.`);
  }
  if (p.type === 'switch') parts.push(`Give -${p.name}:$false to send false.`);
  return parts.join('\n');
}

function section(keyword: string, body: string): string {
  return `.${keyword}\n${body}`;
}

/** The comment-based help block, indented for the inside of a function. */
export function helpComment(module: ModuleModel, cmdlet: CmdletModel): string {
  const sections: string[] = [];
  sections.push(section('SYNOPSIS', helpText(cmdlet.summary)));

  const description = [helpText(cmdlet.description || cmdlet.summary)];
  description.push(
    !cmdlet.authenticated
      ? 'Needs no sign-in.'
      : cmdlet.adminOnly
        ? 'Requires the admin role.'
        : 'Any signed-in caller may use it; what it answers may depend on the authorization rules.',
  );
  if (cmdlet.output?.emit === 'paged') {
    description.push('Returns everything, asking the server page after page; -First and -Skip take part of it, -PageSize sets how many the server sends at a time.');
  }
  if (cmdlet.shouldProcess) {
    description.push(
      cmdlet.force
        ? 'Asks for confirmation first (ConfirmImpact High) unless -Force is given; supports -WhatIf.'
        : 'Supports -WhatIf and -Confirm.',
    );
  }
  sections.push(section('DESCRIPTION', description.join('\n\n')));

  if (cmdlet.outputFile) {
    sections.push(section('PARAMETER Path', 'The file to write (UTF-8 with a byte order mark, so that Excel reads it as UTF-8). An existing file is replaced unless -NoClobber is given.'));
  }
  for (const p of cmdlet.parameters) sections.push(section(`PARAMETER ${p.name}`, helpText(parameterHelp(p))));
  if (cmdlet.outputFile) sections.push(section('PARAMETER NoClobber', 'Leaves an existing file as it is: the cmdlet fails instead of replacing it.'));
  if (cmdlet.parameters.some((p) => p.fromFile)) {
    sections.push(
      section(
        'PARAMETER Encoding',
        'The encoding of the file, when it is not UTF-8: windows-1252 (what Excel saves as "CSV (comma delimited)" in Western Europe and the Americas), latin1, oem, unicode, or any code page name or number. Without it, a file that is not UTF-8 is refused rather than sent mangled.',
      ),
    );
  }
  if (cmdlet.force) {
    sections.push(section('PARAMETER Force', 'Does it without asking for confirmation. -WhatIf still only shows what would happen.'));
  }
  if (cmdlet.asPlainText) {
    sections.push(
      section(
        'PARAMETER AsPlainText',
        'Emits the secrets as plain strings instead of SecureString objects. Anyone who can see the screen or the transcript can read them then.',
      ),
    );
  }
  if (cmdlet.output?.emit === 'paged') {
    sections.push(section('PARAMETER First', 'Emits at most this many objects, and stops asking the server for more pages once it has them.'));
    sections.push(section('PARAMETER Skip', 'Leaves out this many objects first.'));
    sections.push(section('PARAMETER IncludeTotalCount', 'Emits first an object telling the total count; the server does not tell it, so it says the count is unknown.'));
  }

  for (const example of examplesFor(module, cmdlet)) {
    const lines = [`PS> ${helpText(example.code)}`];
    const text = [example.title, example.description].filter(Boolean).join('\n\n');
    if (text) lines.push('', helpText(text));
    sections.push(section('EXAMPLE', lines.join('\n')));
  }

  const pipeline = cmdlet.parameters.filter((p) => p.pipeline);
  if (pipeline.length > 0) {
    const names = pipeline.map((p) => [p.name, ...p.aliases].join(' or ')).join(', ');
    const source = pipelineSource(module, cmdlet);
    sections.push(
      section(
        'INPUTS',
        `System.Management.Automation.PSObject\nObjects with a property named ${names} bind to the parameter of that name${source ? `, for example what ${source.source.name} returns` : ''}.`,
      ),
    );
  } else {
    sections.push(section('INPUTS', 'None. This command takes no pipeline input.'));
  }

  if (cmdlet.output) {
    const shape = module.shapes.get(cmdlet.output.shape);
    const text = [cmdlet.output.typeName];
    if (shape?.description) text.push(helpText(shape.description));
    if (cmdlet.asPlainText) text.push('Secret properties are SecureString objects unless -AsPlainText is given.');
    sections.push(section('OUTPUTS', text.join('\n')));
  } else {
    sections.push(section('OUTPUTS', 'None.'));
  }

  sections.push(
    section(
      'NOTES',
      helpText(`Calls ${cmdlet.method} ${cmdlet.path} (operation ${cmdlet.operationId}) of the amsd API. Generated from the API contract: do not edit.`),
    ),
  );

  const links: string[] = [];
  if (module.helpUri) links.push(helpUriFor(module.helpUri, cmdlet));
  links.push('about_AccessManager');
  for (const other of module.cmdlets) if (other !== cmdlet && other.noun === cmdlet.noun) links.push(other.name);
  for (const link of links) sections.push(section('LINK', helpText(link)));

  return indent(['<#', ...sections.flatMap((s, i) => (i === 0 ? [s] : ['', s])), '#>'].join('\n'), '    ');
}

export function helpUriFor(template: string, cmdlet: CmdletModel): string {
  return template.replace(/\{operationId\}/g, encodeURIComponent(cmdlet.operationId)).replace(/\{cmdlet\}/g, encodeURIComponent(cmdlet.name));
}
