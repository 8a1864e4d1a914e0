/**
 * Who makes a configuration change, and how it gets on the audit trail. Services take a
 * `ChangeAuthor` and record the change in `Store.mutate`'s `beforeCommit`: a change whose record
 * cannot be written is not made.
 */
import type { Caller } from '../auth/caller.js';
import type { AuditTrail } from './audit-trail.js';
import type { AuditActor, ChangeEventInput } from './events.js';

/** `before` and `after` without secrets: services pass their API views, which never hold one. */
export type ChangeRecord = Pick<ChangeEventInput, 'type' | 'target' | 'before' | 'after'>;

export interface ChangeAuthor {
  /** The name written in createdBy / modifiedBy. */
  readonly name: string;
  /** Resolves once the change is on the audit trail; rejects (AuditWriteError) when it cannot be. */
  record(change: ChangeRecord): Promise<void>;
}

export function auditActor(caller: Caller): AuditActor {
  return {
    kind: caller.kind,
    id: caller.kind === 'apiKey' ? caller.apiKeyId : caller.principalId,
    displayName: caller.displayName,
    // Whatever the credential, the user's UPN and object id: GET /v1/audit-events?user= finds either.
    ...(caller.userPrincipalName ? { userPrincipalName: caller.userPrincipalName } : {}),
    ...(caller.tenantId ? { tenantId: caller.tenantId } : {}),
    ...(caller.principalId ? { principalId: caller.principalId } : {}),
    role: caller.role,
  };
}

export function changeAuthor(audit: AuditTrail, caller: Caller, request: { ip?: string; requestId?: string }): ChangeAuthor {
  const actor = auditActor(caller);
  return {
    name: caller.displayName,
    async record(change) {
      await audit.append({ ...change, actor, ...(request.ip ? { ip: request.ip } : {}), ...(request.requestId ? { requestId: request.requestId } : {}) });
    },
  };
}

/** For changes the daemon makes by itself (the first admin key): named, not audited. */
export function systemAuthor(name: string): ChangeAuthor {
  return { name, record: async () => undefined };
}
