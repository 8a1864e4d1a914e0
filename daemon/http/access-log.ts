/**
 * One access-log line per request, written when it is answered: `request completed` (or `request
 * errored`) with the request (method, redacted URL, address; see logging.ts), its status and how long
 * it took. Fastify's default also writes an `incoming request` line when a request arrives: that one is
 * kept at debug level, for following a request that hangs, since at info it doubled the log's volume
 * and its cost on every read (two redacted, serialised lines where one says it all).
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export class AccessLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'requestId' });
  }

  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request'); // a no-op below debug
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}
