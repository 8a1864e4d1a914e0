/**
 * The bearer token of a request becomes a `Caller`, before the body is even parsed: unauthenticated
 * requests learn nothing about validation, and admin-only operations are refused to `user` callers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { KEY_PREFIX, type ApiKeyService, type AuthenticationResult } from '../auth/api-keys.js';
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

/**
 * The route's onRequest hook. A callback hook rather than an async one: an API key is checked
 * synchronously, and every authenticated request passes here; only an Entra token waits for its keys.
 */
export function authenticationHook(operation: Operation, { apiKeys, entraTokens }: Authenticators) {
  return function authenticate(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void {
    const refuse = (detail: string) => {
      reply.header('WWW-Authenticate', 'Bearer realm="amsd"');
      sendProblem(request, reply, 401, 'unauthenticated', detail);
    };
    const decide = (result: AuthenticationResult) => {
      if ('refused' in result) return refuse(result.refused);
      request.caller = result.caller;
      if (operation.adminOnly && result.caller.role !== 'admin') {
        sendProblem(
          request,
          reply,
          403,
          'admin-role-required',
          `${operation.operationId} (${operation.method.toUpperCase()} ${operation.path}) is for administrators, and ${result.caller.kind === 'apiKey' ? 'the API key' : 'the signed-in user'} '${result.caller.displayName}' has the user role.`,
        );
        return;
      }
      done();
    };
    // An answer sent here ends the request: a callback hook that replies does not call done.
    const header = request.headers.authorization;
    if (!header) return refuse('This operation needs an Authorization: Bearer <api key or Entra ID token> header.');
    const token = BEARER.exec(header)?.[1];
    if (!token) return refuse('The Authorization header must be "Bearer <api key>", with one space and nothing else.');
    if (entraTokens && !token.startsWith(KEY_PREFIX) && looksLikeJwt(token)) {
      entraTokens.authenticate(token).then(decide, done);
      return;
    }
    decide(apiKeys.authenticate(token));
  };
}
