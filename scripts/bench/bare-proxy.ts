/**
 * The floor of the read figures: the least a daemon on this stack could do for a read. A bare Fastify
 * server whose one route makes the same Graph request for the secret as the daemon, with undici and a
 * token it was given, and answers a JSON body; with pino writing one access-log line per request, as
 * the daemon does. No authentication, rules, audit or validation: what the daemon costs beyond this
 * is its own work.
 *
 * Run as a child process by lab.ts: `node bare-proxy.js <secretUrl> <token> <caFile> <port>`; prints
 * `ready` once it listens.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { pino } from 'pino';
import { Agent, request } from 'undici';

const [secretUrl, token, caFile, port] = process.argv.slice(2);
if (!secretUrl || !token || !caFile || !port) throw new Error('usage: bare-proxy.js <secretUrl> <token> <caFile> <port>');

const graph = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { ca: [readFileSync(caFile, 'utf8')] } });
// Synchronous, as the daemon's standard output is (its log goes to /dev/null in the bench too).
const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));
const app = Fastify({ loggerInstance: logger, disableRequestLogging: true });
app.addHook('onResponse', async (req, reply) => req.log.info({ method: req.method, url: req.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'request completed'));

app.post('/read', async (_req, reply) => {
  const response = await request(secretUrl, { dispatcher: graph, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  const body = (await response.body.json()) as { deviceName?: string; credentials?: { passwordBase64?: string }[] };
  if (response.statusCode !== 200) return reply.code(502).send({ status: response.statusCode });
  reply.header('cache-control', 'no-store');
  return { deviceName: body.deviceName, password: Buffer.from(body.credentials?.[0]?.passwordBase64 ?? '', 'base64').toString('utf8') };
});

await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('ready\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
