/**
 * The bearer token of a request becomes a `Caller`, before the body is even parsed: unauthenticated
 * requests learn nothing about validation, and admin-only operations are refused to `user` callers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KEY_PREFIX, type ApiKeyService } from '../auth/api-keys.js';
import { looksLikeJwt, type EntraTokenVerifier } from '../auth/entra-tokens.js';
import type { Caller } from '../auth/caller.js';
import { sendProblem } from './problem.js';
import type { Operation } from '../../openapi/contract.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

export interface Authenticators {
  apiKeys: ApiKeyService;
  entraTokens?: EntraTokenVerifier;
}

export function authenticationHook(operation: Operation, { apiKeys, entraTokens }: Authenticators) {
  return async function authenticate(request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers.authorization;
    const refuse = (detail: string) => {
      reply.header('WWW-Authenticate', 'Bearer realm="amsd"');
      return sendProblem(request, reply, 401, 'unauthenticated', detail);
    };
    if (!header) {
      return refuse('This operation needs an Authorization: Bearer <api key or Entra ID token> header.');
    }
    const token = BEARER.exec(header)?.[1];
    if (!token) return refuse('The Authorization header must be "Bearer <api key>", with one space and nothing else.');
    const result = entraTokens && !token.startsWith(KEY_PREFIX) && looksLikeJwt(token) ? await entraTokens.authenticate(token) : apiKeys.authenticate(token);
    if ('refused' in result) return refuse(result.refused);
    request.caller = result.caller;
    if (operation.adminOnly && result.caller.role !== 'admin') {
      return sendProblem(
        request,
        reply,
        403,
        'admin-role-required',
        `${operation.operationId} (${operation.method.toUpperCase()} ${operation.path}) is for administrators, and ${result.caller.kind === 'apiKey' ? 'the API key' : 'the signed-in user'} '${result.caller.displayName}' has the user role.`,
      );
    }
  };
}
