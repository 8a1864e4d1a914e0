/**
 * The check of a PowerShell channel's one field: the script pwsh runs.
 */
import { isAbsolute } from 'node:path';
import type { FieldError } from './channel-contract.js';
import { hasControlCharacters } from './channel-checks.js';

export function checkScriptPath(value: string, errors: FieldError[]): void {
  const fail = (message: string) => void errors.push({ path: 'body/scriptPath', message });
  if (typeof value !== 'string' || hasControlCharacters(value)) return fail('must be a path on one line');
  if (!isAbsolute(value)) return fail('must be an absolute path on the daemon\'s machine, such as C:\\Scripts\\Notify.ps1');
  if (!/\.ps1$/i.test(value)) return fail('must be a PowerShell script (.ps1)');
}
