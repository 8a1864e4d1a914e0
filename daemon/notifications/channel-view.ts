/**
 * A channel as the API shows it, built from its record: a view never holds a sealed value. The URL
 * shows as its origin, headers by name, secrets as `hasSigningSecret` / `hasPassword`.
 */
import type { DeepReadonly } from '../store/store.js';
import type { ChannelRecord } from '../store/records.js';
import type { ChannelView } from './channel-contract.js';

/** Built field by field, so that no sealed value can slip into a view. */
export function toChannelView(record: DeepReadonly<ChannelRecord>): ChannelView {
  const common = {
    id: record.id,
    name: record.name,
    ...(record.description ? { description: record.description } : {}),
    kind: record.kind,
    enabled: record.enabled,
    mandatory: record.mandatory,
  };
  const audit = {
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    ...(record.modifiedAt ? { modifiedAt: record.modifiedAt } : {}),
    ...(record.modifiedBy ? { modifiedBy: record.modifiedBy } : {}),
  };
  switch (record.kind) {
    case 'webhook':
      return {
        ...common,
        urlOrigin: record.urlOrigin,
        method: record.method,
        contentType: record.contentType,
        headerNames: record.headers.map((h) => h.name),
        bodyTemplate: record.bodyTemplate,
        hasSigningSecret: record.sealedSigningSecret !== undefined,
        ...audit,
      };
    case 'smtp':
      return {
        ...common,
        host: record.host,
        port: record.port,
        tls: record.tls,
        ...(record.username !== undefined ? { username: record.username } : {}),
        hasPassword: record.sealedPassword !== undefined,
        from: record.from,
        to: [...record.to],
        subjectTemplate: record.subjectTemplate,
        htmlTemplate: record.htmlTemplate,
        ...audit,
      };
    case 'powershell':
      return { ...common, scriptPath: record.scriptPath, ...audit };
  }
}
