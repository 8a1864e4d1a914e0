/**
 * Notification templates: text with `{{Variable}}` placeholders (Handlebars-style names, as Access
 * Manager admins know them), filled from a secret-read audit event. Every value is escaped for where it
 * goes:
 *
 * - `json` (webhook bodies): a placeholder inside a JSON string gets the value as a JSON string body
 *   (quotes, backslashes and control characters escaped, `<`, `>` and `&` as `\u003c`…, so the JSON
 *   is also safe to embed in HTML). Outside a string only the variables whose value is always a JSON
 *   literal may stand (`{{IsSuccess}}`, `{{EventId}}`); anything else there is refused when the
 *   channel is written, so no requester-controlled text can ever add JSON structure.
 * - `html` (mail bodies): HTML entities for `& < > " '`.
 * - `text` (mail subjects): CR, LF and other control characters become spaces, so no value can add a
 *   mail header.
 *
 * Templates are checked when a channel is written (`validateTemplate`): unknown or malformed
 * placeholders, and a JSON template that does not render to valid JSON for a sample event full of
 * quotes, backslashes, newlines and `</script>`, are refused then, never discovered at delivery.
 */
import { eventIdOf, type AuditChainFields, type SecretReadEventInput } from '../audit/events.js';

export type TemplateFormat = 'json' | 'html' | 'text';

/**
 * Every variable a template may use, with what it holds. Access Manager's `Name`, `DeviceId` and
 * `ObjectId` are ambiguous between the user and the computer, so they are prefixed here
 * (`ComputerName`, `ComputerDeviceId`, `ComputerObjectId`, `UserObjectId`).
 */
export const TEMPLATE_VARIABLES = {
  // The request
  Target: 'The computer asked for: its name when it was found, otherwise what the requester typed.',
  Reason: 'The reason the requester gave (empty when none).',
  IPAddress: 'The address the request came from.',
  AccessType: 'LocalAdminPassword, LocalAdminPasswordHistory, BitLockerRecoveryKey, or LocalAdminPasswordRotation (a rotation asked for, or one that finally failed).',
  RequestId: 'The request id, also in the daemon log and the audit trail.',
  // The response
  IsSuccess: '`true` when the secret was handed out, `false` otherwise.',
  Code: 'The result code: Success, NoMatchingRuleForUser, ExplicitlyDenied, ...',
  Message: 'Why the request was refused (empty on success).',
  MatchedRule: 'The id(s) of the rule(s) that decided, comma-separated.',
  MatchedRuleDescription: 'The description of the rule that granted access (empty when none did).',
  // The requester
  Username: "The requester's user principal name, or the API key's name.",
  DisplayName: "The requester's display name.",
  UserObjectId: "The requester's Entra object id (empty for an API key acting as nobody).",
  UserTenantId: "The requester's tenant id (empty when not known).",
  CallerKind: '`entra` for a user signed in with a token, `apiKey` for an API key.',
  // The computer
  ComputerName: "The computer's name (empty when it was not found).",
  ComputerDeviceId: "The computer's Entra device id.",
  ComputerObjectId: "The computer's Entra directory object id.",
  TenantId: "The computer's tenant id.",
  // The event
  DateTimeUtc: 'When it happened, ISO 8601 UTC (2026-05-01T09:30:00.000Z).',
  EventId: 'The numeric event id (3001 LAPS password granted, 4015 explicitly denied, ...).',
  AuditEventId: "The audit record's id (empty when the notification is sent before the record is written).",
} as const;

export type VariableName = keyof typeof TEMPLATE_VARIABLES;
export type TemplateVariables = Record<VariableName, string>;

const VARIABLE_NAMES = Object.keys(TEMPLATE_VARIABLES) as VariableName[];

/** Variables whose value is always a JSON literal (a boolean, a number): they may stand outside quotes in a JSON template. */
const JSON_LITERAL_VARIABLES: ReadonlySet<VariableName> = new Set(['IsSuccess', 'EventId']);

/** Access Manager names that are ambiguous here, and what to use instead. */
const RENAMED: Record<string, string> = {
  Name: '{{ComputerName}} (or {{DisplayName}} for the requester)',
  DeviceId: '{{ComputerDeviceId}}',
  ObjectId: '{{ComputerObjectId}} or {{UserObjectId}}',
  EmailAddress: '{{Username}} (the user principal name; amsd does not look up mail addresses)',
};

/**
 * What templates are filled from: a secret-read event as the audit trail has it, or as it is about
 * to be written (a mandatory channel is told before the record exists: no `id`, `time` or `seq` yet).
 */
export type NotificationEvent = (SecretReadEventInput | RotationFailureNotice) & Partial<AuditChainFields>;

/**
 * A rotation that finally failed (rotation-service.ts), told to the failure channels in a refused
 * request's shape: the access type LocalAdminPasswordRotation, and the rotation.failed record's id, time
 * and event id (4051).
 */
export type RotationFailureNotice = Omit<SecretReadEventInput, 'type'> & { type: 'rotation.failed' };

export interface VariableExtras {
  /** The description of the rule that granted access. */
  ruleDescription?: string;
}

export class TemplateError extends Error {
  constructor(readonly problems: string[]) {
    super(`The template is invalid: ${problems.join('; ')}`);
    this.name = 'TemplateError';
  }
}

/** The template variables of an event. `now` stands in for the time of an event not yet written. */
export function variablesFrom(event: NotificationEvent, extra: VariableExtras = {}, now: () => Date = () => new Date()): TemplateVariables {
  const { actor, device, outcome } = event;
  const found = 'deviceId' in device ? device : undefined;
  return {
    Target: found ? found.deviceName : 'query' in device ? device.query : '',
    Reason: event.reason ?? '',
    IPAddress: event.ip ?? '',
    AccessType: event.accessType,
    RequestId: event.requestId ?? '',
    IsSuccess: outcome.success ? 'true' : 'false',
    Code: outcome.code,
    Message: outcome.message ?? '',
    MatchedRule: (outcome.ruleIds ?? []).join(', '),
    MatchedRuleDescription: extra.ruleDescription ?? '',
    Username: actor.userPrincipalName ?? actor.displayName,
    DisplayName: actor.displayName,
    UserObjectId: actor.principalId ?? (actor.kind === 'entra' ? actor.id : ''),
    UserTenantId: actor.tenantId ?? '',
    CallerKind: actor.kind,
    ComputerName: found?.deviceName ?? '',
    ComputerDeviceId: found?.deviceId ?? '',
    ComputerObjectId: found?.objectId ?? '',
    TenantId: found?.tenantId ?? '',
    DateTimeUtc: event.time ?? now().toISOString(),
    EventId: String(event.eventId ?? eventIdOf(event as SecretReadEventInput)),
    AuditEventId: event.id ?? '',
  };
}

type Segment = { text: string } | { variable: VariableName; inString: boolean };

const PLACEHOLDER = /^\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/;

/** Splits a template into literal text and placeholders, or says everything wrong with it. */
function parse(template: string, format: TemplateFormat): { segments: Segment[]; problems: string[] } {
  const segments: Segment[] = [];
  const problems: string[] = [];
  let text = '';
  let inString = false;
  let i = 0;
  while (i < template.length) {
    if (template.startsWith('{{', i)) {
      const match = PLACEHOLDER.exec(template.slice(i, i + 80));
      if (!match) {
        const shown = template.slice(i, i + 30).split(/\r?\n/)[0];
        problems.push(`'${shown}' is not a placeholder: write {{Name}} with a variable name (no Handlebars helpers)`);
        text += '{{';
        i += 2;
        continue;
      }
      const name = match[1]!;
      if (!isVariable(name)) {
        problems.push(unknownVariable(name));
      } else if (format === 'json' && !inString && !JSON_LITERAL_VARIABLES.has(name)) {
        problems.push(`{{${name}}} must be inside a JSON string ("{{${name}}}"): only {{IsSuccess}} and {{EventId}} may stand outside quotes`);
      } else {
        if (text) segments.push({ text });
        text = '';
        segments.push({ variable: name, inString });
      }
      i += match[0].length;
      continue;
    }
    const char = template[i]!;
    if (format === 'json') {
      if (char === '"') inString = !inString;
      else if (char === '\\' && inString) {
        // The escaped character cannot end the string.
        text += char + (template[i + 1] ?? '');
        i += 2;
        continue;
      }
    }
    if (format === 'text' && (char === '\r' || char === '\n')) {
      problems.push('a subject must be one line: it contains a line break');
    }
    text += char;
    i += 1;
  }
  if (text) segments.push({ text });
  return { segments, problems: [...new Set(problems)] };
}

function isVariable(name: string): name is VariableName {
  return Object.hasOwn(TEMPLATE_VARIABLES, name);
}

function unknownVariable(name: string): string {
  const renamed = RENAMED[name];
  if (renamed) return `{{${name}}} is ambiguous in amsd: use ${renamed}`;
  const sameLetters = VARIABLE_NAMES.find((v) => v.toLowerCase() === name.toLowerCase());
  if (sameLetters) return `{{${name}}} is not a known variable: did you mean {{${sameLetters}}}? (names are case-sensitive)`;
  return `{{${name}}} is not a known variable (known: ${VARIABLE_NAMES.join(', ')})`;
}

/** Escapes a value for where the placeholder stands. */
function escapeValue(value: string, format: TemplateFormat, inString: boolean): string {
  switch (format) {
    case 'json':
      // Outside a string only JSON-literal variables are allowed (checked in parse): their value is inserted as is.
      return inString ? jsonStringBody(value) : value;
    case 'html':
      return value.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
    case 'text':
      // eslint-disable-next-line no-control-regex
      return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, ' ');
  }
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The value as the inside of a JSON string literal, also safe inside an HTML `<script>`. */
function jsonStringBody(value: string): string {
  return JSON.stringify(value)
    .slice(1, -1)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Fills a template. Throws TemplateError for a template that `validateTemplate` would have refused. */
export function render(template: string, variables: TemplateVariables, format: TemplateFormat): string {
  const { segments, problems } = parse(template, format);
  if (problems.length > 0) throw new TemplateError(problems);
  return segments.map((s) => ('text' in s ? s.text : escapeValue(variables[s.variable], format, s.inString))).join('');
}

/**
 * Everything wrong with a template, as messages (empty when it is fine). A JSON template must also
 * render to valid JSON for a sample event whose every text is hostile.
 */
export function validateTemplate(template: string, format: TemplateFormat): string[] {
  const { problems } = parse(template, format);
  if (problems.length > 0 || format !== 'json') return problems;
  const rendered = render(template, HOSTILE_VARIABLES, 'json');
  try {
    JSON.parse(rendered);
  } catch (error) {
    return [`does not render to valid JSON (${(error as Error).message}); values go inside quotes: "reason": "{{Reason}}"`];
  }
  return [];
}

/** The variables a template uses, in order of first use. */
export function templateVariables(template: string, format: TemplateFormat): VariableName[] {
  return [...new Set(parse(template, format).segments.flatMap((s) => ('variable' in s ? [s.variable] : [])))];
}

/**
 * The event `Test-AmsNotificationChannel` sends: realistic, and plainly a test. No secret was read
 * and the ids are all zeros, so nobody mistakes it for a real read.
 */
export function sampleEvent(now: Date = new Date()): NotificationEvent {
  return {
    type: 'secret.read',
    actor: {
      kind: 'entra',
      id: '00000000-0000-0000-0000-000000000001',
      principalId: '00000000-0000-0000-0000-000000000001',
      displayName: 'amsd test notification',
      userPrincipalName: 'test.notification@example.invalid',
      tenantId: '00000000-0000-0000-0000-000000000000',
      role: 'admin',
    },
    ip: '192.0.2.1',
    requestId: 'test-notification',
    reason: 'Test-AmsNotificationChannel: this is a test notification; no secret was read.',
    accessType: 'LocalAdminPassword',
    device: {
      deviceName: 'TEST-PC-0001',
      deviceId: '00000000-0000-0000-0000-00000000d001',
      objectId: '00000000-0000-0000-0000-00000000b001',
      tenantId: '00000000-0000-0000-0000-000000000000',
    },
    outcome: { success: true, code: 'Success', ruleIds: ['00000000-0000-0000-0000-00000000e001'] },
    time: now.toISOString(),
    eventId: 3001,
  };
}

/** Every text variable set to something that breaks naive JSON, HTML and header building. */
const HOSTILE_TEXT = 'He said "hi" \\ back\\slash\r\nnew line\ttab </script><b>&amp;\u2028\u0000 \'quote\'';
const HOSTILE_VARIABLES: TemplateVariables = Object.fromEntries(
  VARIABLE_NAMES.map((name) => [name, name === 'IsSuccess' ? 'false' : name === 'EventId' ? '4015' : HOSTILE_TEXT]),
) as TemplateVariables;

/** A webhook body with every variable, for channels created without one. */
export const DEFAULT_WEBHOOK_BODY_TEMPLATE = `{
  "source": "amsd",
  "eventId": {{EventId}},
  "isSuccess": {{IsSuccess}},
  "code": "{{Code}}",
  "message": "{{Message}}",
  "accessType": "{{AccessType}}",
  "time": "{{DateTimeUtc}}",
  "requestId": "{{RequestId}}",
  "auditEventId": "{{AuditEventId}}",
  "user": { "username": "{{Username}}", "displayName": "{{DisplayName}}", "objectId": "{{UserObjectId}}", "tenantId": "{{UserTenantId}}", "kind": "{{CallerKind}}" },
  "computer": { "target": "{{Target}}", "name": "{{ComputerName}}", "deviceId": "{{ComputerDeviceId}}", "objectId": "{{ComputerObjectId}}", "tenantId": "{{TenantId}}" },
  "reason": "{{Reason}}",
  "ipAddress": "{{IPAddress}}",
  "matchedRule": "{{MatchedRule}}",
  "matchedRuleDescription": "{{MatchedRuleDescription}}"
}
`;

export const DEFAULT_SUBJECT_TEMPLATE = 'amsd: {{Code}} — {{AccessType}} of {{Target}} for {{Username}}';

export const DEFAULT_HTML_TEMPLATE = `<html><body>
<p><b>{{DisplayName}}</b> ({{Username}}) asked for the {{AccessType}} of <b>{{Target}}</b>: <b>{{Code}}</b>.</p>
<table>
<tr><td>Time (UTC)</td><td>{{DateTimeUtc}}</td></tr>
<tr><td>Result</td><td>{{Code}} {{Message}}</td></tr>
<tr><td>Reason</td><td>{{Reason}}</td></tr>
<tr><td>From address</td><td>{{IPAddress}}</td></tr>
<tr><td>Computer</td><td>{{ComputerName}} ({{ComputerDeviceId}}), tenant {{TenantId}}</td></tr>
<tr><td>Rule</td><td>{{MatchedRuleDescription}} {{MatchedRule}}</td></tr>
<tr><td>Event</td><td>{{EventId}}, request {{RequestId}}</td></tr>
</table>
</body></html>
`;
