/**
 * A change to a stored channel: only the fields given change, and the result is checked as a whole
 * (every mistake named), like a creation.
 */
import type { DeepReadonly } from '../store/store.js';
import { SMTP_TLS_MODES, type ChannelRecord } from '../store/records.js';
import { checkForeignFields, checkName, checkSecret, checkTemplate, type ChannelWriteContext, type ChannelWriteResult } from './channel-checks.js';
import type { ChannelUpdate, FieldError } from './channel-contract.js';
import { channelSealingContext, type SealedChannelField } from './channel-sealing.js';
import { checkScriptPath } from './powershell-checks.js';
import { DEFAULT_SMTP_PORTS, checkSmtp } from './smtp-checks.js';
import { checkContentType, checkHeaders, checkMethod, checkUrl } from './webhook-checks.js';


/** The record with the update applied, checked as a whole (every mistake named), or the errors. */
export function applyChannelUpdate(record: DeepReadonly<ChannelRecord>, update: ChannelUpdate, context: ChannelWriteContext): ChannelWriteResult {
  const errors: FieldError[] = [];
  if (update.kind !== undefined && update.kind !== record.kind) {
    errors.push({ path: 'body/kind', message: `cannot be changed (this channel is a ${record.kind}): remove it and create a new one` });
  }
  const next = structuredClone(record) as ChannelRecord;
  if (update.name !== undefined) next.name = checkName(update.name, context.existing, record.id, errors);
  if (update.description !== undefined) {
    if (update.description?.trim()) next.description = update.description.trim();
    else delete next.description;
  }
  if (update.enabled !== undefined) next.enabled = update.enabled;
  if (update.mandatory !== undefined) next.mandatory = update.mandatory;
  checkForeignFields(update, record.kind, errors);
  const seal = (value: string, field: SealedChannelField) => context.sealer.seal(value, channelSealingContext(record.id, field));

  switch (next.kind) {
    case 'webhook': {
      if (update.url !== undefined) {
        const url = checkUrl(update.url, errors);
        if (url) {
          next.sealedUrl = seal(url.href, 'url');
          next.urlOrigin = url.origin;
        }
      }
      if (update.method !== undefined) {
        checkMethod(update.method, errors);
        next.method = update.method;
      }
      if (update.contentType !== undefined) {
        checkContentType(update.contentType, errors);
        next.contentType = update.contentType;
      }
      if (update.headers !== undefined) {
        next.headers = checkHeaders(update.headers, errors).map(([n, v]) => ({ name: n, sealedValue: seal(v, `header:${n.toLowerCase()}`) }));
      }
      if (update.bodyTemplate !== undefined) {
        checkTemplate(update.bodyTemplate, 'json', 'bodyTemplate', errors);
        next.bodyTemplate = update.bodyTemplate;
      }
      if (update.signingSecret === null) delete next.sealedSigningSecret;
      else if (update.signingSecret !== undefined) {
        checkSecret(update.signingSecret, 'signingSecret', errors);
        next.sealedSigningSecret = seal(update.signingSecret, 'signingSecret');
      }
      break;
    }
    case 'smtp': {
      const tls = update.tls ?? next.tls;
      const merged = {
        host: update.host ?? next.host,
        // A new TLS mode without a port moves to that mode's default port when the old one was the old mode's default.
        port: update.port ?? (update.tls !== undefined && next.port === DEFAULT_SMTP_PORTS[next.tls] && (SMTP_TLS_MODES as readonly string[]).includes(tls) ? DEFAULT_SMTP_PORTS[tls] : next.port),
        tls,
        username: update.username === null ? undefined : (update.username ?? next.username),
        hasPassword: update.username === null || update.password === null ? false : update.password !== undefined || next.sealedPassword !== undefined,
        from: update.from ?? next.from,
        to: update.to ?? next.to,
        subjectTemplate: update.subjectTemplate ?? next.subjectTemplate,
        htmlTemplate: update.htmlTemplate ?? next.htmlTemplate,
      };
      checkSmtp(merged, new Set(Object.keys(update).filter((k) => update[k as keyof ChannelUpdate] !== undefined)), errors);
      if (typeof update.password === 'string') checkSecret(update.password, 'password', errors);
      if (errors.length > 0) return { errors };
      next.host = merged.host.trim();
      next.port = merged.port;
      next.tls = merged.tls;
      if (merged.username === undefined) delete next.username;
      else next.username = merged.username;
      if (!merged.hasPassword) delete next.sealedPassword;
      else if (typeof update.password === 'string') next.sealedPassword = seal(update.password, 'password');
      next.from = merged.from.trim();
      next.to = merged.to.map((a) => a.trim());
      next.subjectTemplate = merged.subjectTemplate;
      next.htmlTemplate = merged.htmlTemplate;
      break;
    }
    case 'powershell': {
      if (update.scriptPath !== undefined) {
        checkScriptPath(update.scriptPath, errors);
        next.scriptPath = update.scriptPath;
      }
      break;
    }
  }
  if (errors.length > 0) return { errors };
  next.modifiedAt = (context.now ?? new Date()).toISOString();
  next.modifiedBy = context.author;
  return { record: next };
}
