/**
 * A new channel, as the API gives it, checked field by field (every mistake named), its secrets
 * sealed, and made into the record to store.
 */
import { randomUUID } from 'node:crypto';
import { CHANNEL_KINDS, SMTP_TLS_MODES, type ChannelRecord } from '../store/records.js';
import { checkForeignFields, checkName, checkSecret, checkTemplate, required, type ChannelWriteContext, type ChannelWriteResult } from './channel-checks.js';
import type { FieldError, NewChannel } from './channel-contract.js';
import { channelSealingContext, type SealedChannelField } from './channel-sealing.js';
import { checkScriptPath } from './powershell-checks.js';
import { DEFAULT_SMTP_PORTS, checkSmtp } from './smtp-checks.js';
import { DEFAULT_HTML_TEMPLATE, DEFAULT_SUBJECT_TEMPLATE, DEFAULT_WEBHOOK_BODY_TEMPLATE } from './templates.js';
import { checkContentType, checkHeaders, checkMethod, checkUrl } from './webhook-checks.js';

/** A new channel checked field by field (every mistake named), sealed and ready to store. */
export function validateNewChannel(input: NewChannel, context: ChannelWriteContext): ChannelWriteResult {
  const errors: FieldError[] = [];
  const kind = input.kind;
  if (!(CHANNEL_KINDS as readonly string[]).includes(kind)) {
    return { errors: [{ path: 'body/kind', message: `must be one of: ${CHANNEL_KINDS.join(', ')}` }] };
  }
  const id = randomUUID();
  const name = checkName(input.name, context.existing, undefined, errors);
  checkForeignFields(input, kind, errors);
  const now = (context.now ?? new Date()).toISOString();
  const base = {
    id,
    name,
    ...(input.description?.trim() ? { description: input.description.trim() } : {}),
    // Request validation fills the contract's defaults in (enabled: true, mandatory: false).
    enabled: input.enabled,
    mandatory: input.mandatory,
    createdAt: now,
    createdBy: context.author,
  };
  const seal = (value: string, field: SealedChannelField) => context.sealer.seal(value, channelSealingContext(id, field));

  let record: ChannelRecord;
  switch (kind) {
    case 'webhook': {
      const url = required(input.url, 'url', errors) ? checkUrl(input.url!, errors) : undefined;
      const headers = checkHeaders(input.headers ?? {}, errors);
      const bodyTemplate = input.bodyTemplate ?? DEFAULT_WEBHOOK_BODY_TEMPLATE;
      checkTemplate(bodyTemplate, 'json', 'bodyTemplate', errors);
      checkMethod(input.method, errors);
      checkContentType(input.contentType, errors);
      if (input.signingSecret !== undefined) checkSecret(input.signingSecret, 'signingSecret', errors);
      if (errors.length > 0) return { errors };
      record = {
        ...base,
        kind,
        sealedUrl: seal(url!.href, 'url'),
        urlOrigin: url!.origin,
        method: input.method ?? 'POST',
        contentType: input.contentType ?? 'application/json',
        headers: headers.map(([n, v]) => ({ name: n, sealedValue: seal(v, `header:${n.toLowerCase()}`) })),
        bodyTemplate,
        ...(input.signingSecret !== undefined ? { sealedSigningSecret: seal(input.signingSecret, 'signingSecret') } : {}),
      };
      break;
    }
    case 'smtp': {
      const tls = input.tls ?? 'starttls';
      const smtp = {
        host: input.host,
        port: input.port ?? DEFAULT_SMTP_PORTS[(SMTP_TLS_MODES as readonly string[]).includes(tls) ? tls : 'starttls'],
        tls,
        username: input.username,
        hasPassword: input.password !== undefined,
        from: input.from,
        to: input.to,
        subjectTemplate: input.subjectTemplate ?? DEFAULT_SUBJECT_TEMPLATE,
        htmlTemplate: input.htmlTemplate ?? DEFAULT_HTML_TEMPLATE,
      };
      checkSmtp(smtp, 'all', errors);
      if (input.password !== undefined) checkSecret(input.password, 'password', errors);
      if (errors.length > 0) return { errors };
      record = {
        ...base,
        kind,
        host: smtp.host!.trim(),
        port: smtp.port,
        tls: smtp.tls,
        ...(smtp.username !== undefined ? { username: smtp.username } : {}),
        ...(input.password !== undefined ? { sealedPassword: seal(input.password, 'password') } : {}),
        from: smtp.from!.trim(),
        to: smtp.to!.map((a) => a.trim()),
        subjectTemplate: smtp.subjectTemplate,
        htmlTemplate: smtp.htmlTemplate,
      };
      break;
    }
    case 'powershell': {
      if (required(input.scriptPath, 'scriptPath', errors)) checkScriptPath(input.scriptPath!, errors);
      if (errors.length > 0) return { errors };
      record = { ...base, kind, scriptPath: input.scriptPath! };
      break;
    }
  }
  return { record };
}
