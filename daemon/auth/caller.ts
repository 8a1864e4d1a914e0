/**
 * Who is calling, as derived from the bearer token: an amsd API key, or a user signed in with Entra ID.
 * Secret reads are decided by the rules for both kinds; `role` only gates administration.
 */
import type { components } from '../../openapi/ams.js';
import type { Role } from '../store/records.js';

export type CallerView = components['schemas']['Caller'];

export interface ApiKeyCaller {
  kind: 'apiKey';
  apiKeyId: string;
  displayName: string;
  role: Role;
  /** The Entra user the key acts as, if any. */
  tenantId?: string;
  principalId?: string;
  /** That user's UPN, as Graph gave it when the key was created: audit events carry it. */
  userPrincipalName?: string;
}

export interface EntraCaller {
  kind: 'entra';
  displayName: string;
  role: Role;
  tenantId: string;
  principalId: string;
  /** From the token's upn or preferred_username claim, when it has one. */
  userPrincipalName?: string;
  /**
   * The user's groups as the token listed them; undefined when the token carried none or overflowed,
   * and Graph must be asked.
   */
  tokenGroupIds?: readonly string[];
}

export type Caller = ApiKeyCaller | EntraCaller;

/** A stable identity for audit records and rate limits. */
export function callerKey(caller: Caller): string {
  return caller.principalId ? `${caller.tenantId}/${caller.principalId}` : `apiKey/${caller.kind === 'apiKey' ? caller.apiKeyId : ''}`;
}

/** The caller as the API shows it (`GET /v1/me`). */
export function toCallerView(caller: Caller): CallerView {
  return {
    kind: caller.kind,
    displayName: caller.displayName,
    role: caller.role,
    ...(caller.kind === 'apiKey' ? { apiKeyId: caller.apiKeyId } : {}),
    ...(caller.tenantId ? { tenantId: caller.tenantId } : {}),
    ...(caller.principalId ? { principalId: caller.principalId } : {}),
  };
}
