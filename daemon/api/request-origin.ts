/**
 * Where a request came from: the client address (X-Forwarded-For believed only from trusted proxies)
 * and the request id, as the audit trail and the per-IP rate limit need them.
 */
import type { FastifyRequest } from 'fastify';
import { clientIp } from '../access/client-ip.js';
import type { RequestOrigin } from '../access/access-service.js';
import type { Caller } from '../auth/caller.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { changeAuthor, type ChangeAuthor } from '../audit/change-author.js';
import type { SettingsService } from '../settings/settings-service.js';

export function requestOrigin(request: FastifyRequest, trustedProxies: readonly string[]): RequestOrigin {
  const forwarded = request.headers['x-forwarded-for'];
  const peer = request.socket?.remoteAddress ?? request.ip;
  return {
    ip: clientIp(peer, Array.isArray(forwarded) ? forwarded.join(',') : forwarded, trustedProxies),
    requestId: String(request.id),
  };
}

/** The two things every handler that records something needs, bound to the daemon's audit log and settings. */
export interface RequestContextTools {
  origin(request: FastifyRequest): RequestOrigin;
  author(context: { caller: Caller; request: FastifyRequest }): ChangeAuthor;
}

export function requestContextTools(settings: SettingsService, audit: AuditTrail): RequestContextTools {
  const origin = (request: FastifyRequest) => requestOrigin(request, settings.get().trustedProxies);
  return {
    origin,
    author: ({ caller, request }) => changeAuthor(audit, caller, origin(request)),
  };
}
