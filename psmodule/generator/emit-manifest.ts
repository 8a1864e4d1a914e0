/**
 * The module manifest (explicit exports, stable GUID, both editions, 5.1 minimum) and the root module,
 * which dot-sources the private then the public scripts, in a fixed order, and exports the public ones.
 */
import type { Emitter } from './emitter.js';
import { exportedFunctions, MODULE_NAME, scriptsInLoadOrder } from './layout.js';
import type { CmdletModel, ModuleModel, ParameterModel } from './model.js';
import { psArray, psString } from './powershell.js';

/** The module's identity: never change it, or PowerShellGet and Import-Module see another module. */
export const MODULE_GUID = 'ab409007-e22f-4274-810b-512739ddcdb3';

const DESCRIPTION =
  'Cmdlets for amsd, the Access Manager daemon: read Windows LAPS passwords and BitLocker recovery keys held by Entra ID, as authorization rules allow, with every read audited.';

/** `0.1.0-beta.2` → ModuleVersion `0.1.0`, Prerelease `beta2` (PowerShellGet allows only letters and digits there). */
export function moduleVersion(version: string): { version: string; prerelease?: string } {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/.exec(version);
  if (!match) throw new Error(`"${version}" is not a semantic version (x.y.z) that a module version can be made of`);
  const prerelease = match[4]?.replace(/[^0-9A-Za-z]/g, '');
  return { version: `${match[1]}.${match[2]}.${match[3]}`, ...(prerelease ? { prerelease } : {}) };
}

interface ManifestInput {
  version: string;
  description: string;
  functions: string[];
  header: string;
}

/** A multi-line array literal, comma-separated (a manifest is read in restricted language mode). */
function psList(values: readonly string[], indentBy: string): string {
  if (values.length === 0) return '@()';
  return ['@(', ...values.map((v, i) => `${indentBy}    ${psString(v)}${i < values.length - 1 ? ',' : ''}`), `${indentBy})`].join('\n');
}

function manifestText(input: ManifestInput): string {
  const { version, prerelease } = moduleVersion(input.version);
  const functions = [...input.functions].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const lines = [
    input.header,
    '@{',
    `    RootModule = ${psString(`${MODULE_NAME}.psm1`)}`,
    `    ModuleVersion = ${psString(version)}`,
    `    GUID = ${psString(MODULE_GUID)}`,
    "    Author = 'amsd'",
    "    CompanyName = 'amsd'",
    "    Copyright = '(c) amsd contributors. MIT License.'",
    `    Description = ${psString(input.description)}`,
    "    CompatiblePSEditions = @('Desktop', 'Core')",
    "    PowerShellVersion = '5.1'",
    `    FunctionsToExport = ${psList(functions, '    ')}`,
    '    CmdletsToExport = @()',
    '    VariablesToExport = @()',
    '    AliasesToExport = @()',
    `    FormatsToProcess = ${psArray([`${MODULE_NAME}.format.ps1xml`])}`,
    `    TypesToProcess = ${psArray([`${MODULE_NAME}.types.ps1xml`])}`,
    '    PrivateData = @{',
    '        PSData = @{',
    "            Tags = @('LAPS', 'BitLocker', 'EntraID', 'AccessManager', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')",
    "            LicenseUri = 'https://opensource.org/licenses/MIT'",
    ...(prerelease ? [`            Prerelease = ${psString(prerelease)}`] : []),
    '        }',
    '    }',
    '}',
  ];
  return lines.join('\n') + '\n';
}

interface Completer {
  parameter: string;
  /** The private function that answers the completions. */
  completer: string;
  cmdlets: string[];
}

function rootModuleText(header: string, scripts: string[], functions: string[], completers: Completer[]): string {
  const exported = [...functions].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  const lines = [
    header,
    "# The module's own code runs strict: a misspelt variable or a property read that is not there is an error.",
    'Set-StrictMode -Version Latest',
    '',
    '# The connection Connect-AmsServer makes; every cmdlet uses it through Invoke-AmsRequest.',
    '$script:AmsConnection = $null',
    '',
    '# Private helpers first, then one script per cmdlet. Forward slashes work on Windows and elsewhere.',
    `$amsScripts = ${psList(scripts, '')}`,
    'foreach ($amsScript in $amsScripts) {',
    '    . (Join-Path -Path $PSScriptRoot -ChildPath $amsScript)',
    '}',
    "Remove-Variable -Name 'amsScripts', 'amsScript'",
    '',
    ...(completers.length > 0 ? ['# Tab completion from the connected daemon (Private/AmsCompleters.ps1).'] : []),
    ...completers.flatMap((c) => [
      `Register-ArgumentCompleter -CommandName ${psList([...c.cmdlets].sort(), '')} -ParameterName ${psString(c.parameter)} -ScriptBlock {`,
      '    param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)',
      `    ${c.completer} -WordToComplete $wordToComplete`,
      '}',
    ]),
    ...(completers.length > 0 ? [''] : []),
    '$ExecutionContext.SessionState.Module.OnRemove = {',
    '    $script:AmsConnection = $null',
    '}',
    '',
    `Export-ModuleMember -Function ${psList(exported, '')}`,
  ];
  return lines.join('\n') + '\n';
}

export const emitManifest: Emitter = (module, { header, version }) => [
  { path: `${MODULE_NAME}.psd1`, content: manifestText({ version, description: DESCRIPTION, functions: exportedFunctions(module), header }) },
];

export const emitRootModule: Emitter = (module, { header }) => [
  { path: `${MODULE_NAME}.psm1`, content: rootModuleText(header, scriptsInLoadOrder(module), exportedFunctions(module), completers(module)) },
];

/**
 * Which parameters get which completer: -ComputerName a device name, -TenantId a tenant, and the -Id
 * of the rule cmdlets a rule. Registered by the root module for every cmdlet that has them.
 */
function completers(model: ModuleModel): Completer[] {
  const having = (match: (cmdlet: CmdletModel, parameter: ParameterModel) => boolean) =>
    model.cmdlets.filter((c) => c.parameters.some((p) => match(c, p))).map((c) => c.name);
  return [
    { parameter: 'ComputerName', completer: 'Complete-AmsComputerName', cmdlets: having((_, p) => p.name === 'ComputerName') },
    { parameter: 'Name', completer: 'Complete-AmsComputerName', cmdlets: having((c, p) => p.name === 'Name' && c.noun === 'AmsDevice') },
    { parameter: 'TenantId', completer: 'Complete-AmsTenantId', cmdlets: having((_, p) => p.name === 'TenantId') },
    { parameter: 'Id', completer: 'Complete-AmsRuleId', cmdlets: having((c, p) => p.name === 'Id' && c.noun === 'AmsComputerAuthorizationRule') },
  ].filter((c) => c.cmdlets.length > 0);
}
