/**
 * PowerShell names: cmdlet names (approved verb, `Ams` noun prefix), parameter names (PascalCase, never a
 * common parameter or an automatic or preference variable), and the casing rule shared by parameters
 * and output properties.
 */
import { APPROVED_VERBS } from './approved-verbs.js';

/** The prefix every noun of the module carries, so that its cmdlets never clash with another module's. */
export const NOUN_PREFIX = 'Ams';

/**
 * Common parameters of every advanced function (about_CommonParameters), with their aliases, and the
 * risk-mitigation parameters SupportsShouldProcess adds. A spec parameter of one of these names would
 * make the function fail to load.
 */
export const COMMON_PARAMETERS: readonly string[] = [
  'Debug', 'db', 'ErrorAction', 'ea', 'ErrorVariable', 'ev', 'InformationAction', 'infa', 'InformationVariable', 'iv',
  'OutBuffer', 'ob', 'OutVariable', 'ov', 'PipelineVariable', 'pv', 'ProgressAction', 'proga', 'Verbose', 'vb',
  'WarningAction', 'wa', 'WarningVariable', 'wv',
  // SupportsShouldProcess
  'WhatIf', 'wi', 'Confirm', 'cf',
  // SupportsPaging
  'First', 'Skip', 'IncludeTotalCount',
];

/** Automatic variables (about_Automatic_Variables): a parameter of the same name would shadow one. */
export const AUTOMATIC_VARIABLES: readonly string[] = [
  'args', 'ConsoleFileName', 'EnabledExperimentalFeatures', 'Error', 'Event', 'EventArgs', 'EventSubscriber',
  'ExecutionContext', 'false', 'foreach', 'HOME', 'Host', 'input', 'IsCoreCLR', 'IsLinux', 'IsMacOS', 'IsWindows',
  'LASTEXITCODE', 'Matches', 'MyInvocation', 'NestedPromptLevel', 'null', 'PID', 'PROFILE', 'PSBoundParameters',
  'PSCmdlet', 'PSCommandPath', 'PSCulture', 'PSDebugContext', 'PSEdition', 'PSHOME', 'PSItem', 'PSScriptRoot',
  'PSSenderInfo', 'PSUICulture', 'PSVersionTable', 'PWD', 'Sender', 'ShellId', 'StackTrace', 'switch', 'this', 'true',
];

/** Preference variables (about_Preference_Variables): a parameter of the same name would change behaviour. */
export const PREFERENCE_VARIABLES: readonly string[] = [
  'ConfirmPreference', 'DebugPreference', 'ErrorActionPreference', 'ErrorView', 'FormatEnumerationLimit',
  'InformationPreference', 'LogCommandHealthEvent', 'LogCommandLifecycleEvent', 'LogEngineHealthEvent',
  'LogEngineLifecycleEvent', 'LogProviderHealthEvent', 'LogProviderLifecycleEvent', 'MaximumHistoryCount', 'OFS',
  'OutputEncoding', 'ProgressPreference', 'PSDefaultParameterValues', 'PSEmailServer', 'PSModuleAutoLoadingPreference',
  'PSNativeCommandArgumentPassing', 'PSNativeCommandUseErrorActionPreference', 'PSSessionApplicationName',
  'PSSessionConfigurationName', 'PSSessionOption', 'PSStyle', 'Transcript', 'VerbosePreference', 'WarningPreference',
  'WhatIfPreference',
];

/**
 * Local variables of the generated functions. PowerShell variable names ignore case, so a parameter
 * named like one of them would be overwritten by it; they all start with `ams` to make that unlikely.
 */
export const GENERATED_LOCALS: readonly string[] = [
  'amsPath', 'amsQuery', 'amsBody', 'amsResponse', 'amsItem', 'amsTarget', 'amsCursor', 'amsEmitted', 'amsSkipped',
];

/** Parameters the generator itself adds to some cmdlets. */
export const GENERATED_PARAMETERS: readonly string[] = ['Force', 'AsPlainText'];

const RESERVED = new Map<string, string>();
for (const name of COMMON_PARAMETERS) RESERVED.set(name.toLowerCase(), `the common parameter -${name}`);
for (const name of AUTOMATIC_VARIABLES) RESERVED.set(name.toLowerCase(), `the automatic variable $${name}`);
for (const name of PREFERENCE_VARIABLES) RESERVED.set(name.toLowerCase(), `the preference variable $${name}`);
for (const name of GENERATED_LOCALS) RESERVED.set(name.toLowerCase(), `the generated code's local variable $${name}`);
for (const name of GENERATED_PARAMETERS) RESERVED.set(name.toLowerCase(), `the generated parameter -${name}`);

/** Why a parameter may not have this name, or undefined when it may. Case-insensitive, as PowerShell is. */
export function reservedParameterReason(name: string): string | undefined {
  return RESERVED.get(name.toLowerCase());
}

/** `deviceName` → `DeviceName`, `user_code` → `UserCode`, `x-request-id` → `XRequestId`. */
export function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** A name PowerShell accepts as a parameter without braces. */
export function isPlainIdentifier(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9]*$/.test(name);
}

export interface CmdletName {
  verb: string;
  noun: string;
}

/** Splits and checks `Verb-AmsNoun`; returns a message when the name is not acceptable. */
export function checkCmdletName(name: string): CmdletName | string {
  const match = /^([A-Za-z]+)-([A-Za-z][A-Za-z0-9]*)$/.exec(name);
  if (!match) return `"${name}" is not a cmdlet name of the form Verb-${NOUN_PREFIX}Noun`;
  const verb = match[1]!;
  const noun = match[2]!;
  if (!APPROVED_VERBS.has(verb)) {
    const near = [...APPROVED_VERBS].find((approved) => approved.toLowerCase() === verb.toLowerCase());
    return near
      ? `"${name}": the verb must be spelt "${near}"`
      : `"${name}": "${verb}" is not an approved verb of Windows PowerShell 5.1 (Get-Verb); Import-Module would warn. Pick one of Get-Verb's, e.g. Get, New, Set, Remove, Test, Invoke`;
  }
  if (!noun.startsWith(NOUN_PREFIX) || noun.length === NOUN_PREFIX.length || !/[A-Z]/.test(noun.charAt(NOUN_PREFIX.length))) {
    return `"${name}": the noun must start with the module prefix "${NOUN_PREFIX}" followed by a capital letter, e.g. ${verb}-${NOUN_PREFIX}Device`;
  }
  return { verb, noun };
}
