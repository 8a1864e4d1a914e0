/**
 * en-US/about_AccessManager.help.txt: the module's conceptual help (Get-Help about_AccessManager):
 * connecting, the pipeline, secrets, -WhatIf/-Confirm, errors, paging, and every cmdlet by area.
 */
import type { Emitter } from './emitter.js';
import { MODULE_NAME } from './layout.js';
import { SESSION_CMDLETS, type ModuleModel } from './model.js';
import { firstLine } from './powershell.js';

const WIDTH = 80;

/** Wraps a paragraph at 80 columns with the given indentation. */
export function wrap(text: string, indentBy = '    '): string {
  const words = text.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && indentBy.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indentBy + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indentBy + line);
  return lines.join('\n');
}

function code(lines: string[]): string {
  return lines.map((l) => (l ? `        ${l}` : '')).join('\n');
}

const SESSION_SYNOPSES: Record<(typeof SESSION_CMDLETS)[number], string> = {
  'Connect-AmsServer': 'Connects to an amsd server with an API key, an access token or Entra ID device code sign-in.',
  'Disconnect-AmsServer': 'Forgets the connection and its credentials.',
  'Get-AmsConnection': 'Shows the current connection: the server, how you signed in and who you are.',
};

function aboutText(module: ModuleModel): string {
  const out: string[] = [];
  const para = (text: string) => out.push(wrap(text), '');
  const heading = (text: string) => out.push(text);

  heading('TOPIC');
  out.push('    about_AccessManager', '');
  heading('SHORT DESCRIPTION');
  para(
    'Cmdlets for amsd, the Access Manager daemon: read Windows LAPS passwords and BitLocker recovery keys that Entra ID holds, as authorization rules allow, with every read audited.',
  );
  heading('LONG DESCRIPTION');
  const intro = firstLine(module.description);
  if (intro) para(intro);
  para(
    `The AccessManager module is generated from the amsd API contract (${module.title} ${module.specVersion}): every operation of the API is one cmdlet, and nothing else is exported but the three session cmdlets. It runs on Windows PowerShell 5.1 and on PowerShell 7.`,
  );

  heading('CONNECTING');
  para('Every cmdlet talks to the server Connect-AmsServer connected to. Sign in with an API key, an Entra ID access token, or the device code flow of Entra ID:');
  out.push(
    code([
      "$uri = 'https://amsd.contoso.com:5800'",
      "Connect-AmsServer -Uri $uri -ApiKey (Read-Host -AsSecureString 'Key')",
      'Connect-AmsServer -Uri $uri -UseDeviceCode',
      'Connect-AmsServer -Uri $uri -AccessToken $token',
      'Get-AmsConnection',
      'Disconnect-AmsServer',
    ]),
    '',
  );
  para(
    'Keys and tokens are SecureString objects and stay so in the session; they are turned into plain text only to be sent in the Authorization header. -SkipCertificateCheck accepts a server certificate that is not trusted (a test server); do not use it otherwise.',
  );

  heading('THE PIPELINE');
  para(
    'Cmdlets emit one object per item, with a type name (Ams.Device, Ams.ApiKey, ...), PascalCase properties and dates as [datetime]. Parameters that identify something bind from the pipeline by property name, so the output of one cmdlet feeds the next:',
  );
  const pipelineExamples = [
    ['Get-AmsDevice -Name PC-0001 | Get-AmsLocalAdminPassword'],
    ['Get-AmsComputerAuthorizationRule | Where-Object Disabled |', '    Remove-AmsComputerAuthorizationRule'],
    ['Get-AmsApiKey -Status expired | Remove-AmsApiKey -WhatIf'],
  ].filter((lines) =>
    lines
      .join(' ')
      .split('|')
      .map((part) => part.trim().split(' ')[0]!)
      .filter((name) => /^[A-Z][a-z]+-Ams/.test(name))
      .every((name) => module.cmdlets.some((c) => c.name === name)),
  );
  if (pipelineExamples.length > 0) out.push(code(pipelineExamples.flatMap((lines, i) => (i === 0 ? lines : ['', ...lines]))), '');

  heading('SECRETS');
  para(
    'Passwords, recovery keys and new API keys are emitted as SecureString objects. Add -AsPlainText to get them as plain strings, for instance to show one to a technician; anyone who can see the screen or the transcript can read them then. Every read of a secret is decided by the authorization rules and audited by the server.',
  );

  heading('CHANGES, -WHATIF AND -CONFIRM');
  para(
    'Cmdlets that change something support -WhatIf and -Confirm. Remove cmdlets ask for confirmation first (ConfirmImpact High); -Force skips the question. New and Set cmdlets emit the object as the server now holds it.',
  );

  heading('ERRORS');
  para(
    "A refused or failed call is an error record whose FullyQualifiedErrorId starts with Ams.<Cmdlet>.<HTTP status>, whose category follows the status, and whose ErrorDetails carry the server's explanation (and, for an ambiguous device name, the candidates). $_.TargetObject is the server's problem object.",
  );
  out.push(
    code([
      '400 InvalidArgument         401 AuthenticationError',
      '403 PermissionDenied        404 ObjectNotFound',
      '409 ResourceExists          422 InvalidData',
      '429 LimitsExceeded          408, 504 OperationTimeout',
      '501 NotImplemented          other 5xx ResourceUnavailable',
      'no answer ConnectionError',
    ]),
    '',
  );
  para('In a pipeline, a refused item does not stop the others; use -ErrorAction Stop to stop at the first error.');

  heading('PAGING');
  para(
    'Cmdlets that list return everything: they ask the server for page after page. -First and -Skip take part of the result (and stop asking once they have it); -PageSize sets how many items the server sends at a time.',
  );

  heading('CMDLETS');
  const byTag = new Map<string, Array<{ name: string; synopsis: string }>>();
  byTag.set('Session', SESSION_CMDLETS.map((name) => ({ name, synopsis: SESSION_SYNOPSES[name] })));
  for (const cmdlet of module.cmdlets) {
    const tag = cmdlet.tags[0] ?? 'Other';
    if (!byTag.has(tag)) byTag.set(tag, []);
    byTag.get(tag)!.push({ name: cmdlet.name, synopsis: cmdlet.summary });
  }
  for (const [tag, cmdlets] of byTag) {
    out.push(`    ${tag}`);
    for (const c of cmdlets) {
      out.push(`        ${c.name}`);
      out.push(wrap(c.synopsis, '            '));
    }
    out.push('');
  }

  heading('KEYWORDS');
  out.push('    LAPS, BitLocker, Entra ID, Access Manager, amsd', '');
  heading('SEE ALSO');
  out.push('    Get-Command -Module AccessManager', '    Get-Help Connect-AmsServer -Full', '    about_CommonParameters', '');
  return out.join('\n');
}

export const emitAbout: Emitter = (module) => [{ path: `en-US/about_${MODULE_NAME}.help.txt`, content: aboutText(module) }];
