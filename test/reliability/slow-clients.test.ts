/**
 * Slow and greedy clients against a real listening daemon (issue 11, the reliability suite): clients
 * that send headers a line at a time, a body a byte at a time, or nothing, and more connections than
 * the cap, all at once. They are cut off; a normal client is served all along. The limits are made
 * short for the test (what a production timeout is does not matter here, only that it holds).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startTestDaemon } from '../helpers.js';
import { recordFigures } from './figures.js';

const SLOW_CLIENTS = 12;
const CAP = 24;

t.test('slow headers, slow bodies, silent and surplus connections are cut; others are served', async (t) => {
  const daemon = await startTestDaemon(t, undefined, {
    serverLimits: { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300, timeoutCheckIntervalMs: 50, maxConnections: CAP },
  });
  await daemon.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = daemon.app.server.address() as { port: number };
  // Node emits 'drop' for each connection it closes because the cap is reached.
  let dropped = 0;
  daemon.app.server.on('drop', () => dropped++);
  const timers: NodeJS.Timeout[] = [];
  t.teardown(() => timers.forEach(clearInterval));

  const open = async (): Promise<Socket> => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.resume(); // read what the server sends, so that its close is seen
    return socket;
  };
  const drip = (socket: Socket, text: () => string) => timers.push(setInterval(() => socket.writable && socket.write(text()), 100));

  const slow: Socket[] = [];
  for (let i = 0; i < SLOW_CLIENTS; i++) {
    const socket = await open();
    if (i % 3 === 0) {
      socket.write('GET /v1/health HTTP/1.1\r\n');
      drip(socket, () => 'X-Slow: a\r\n');
    } else if (i % 3 === 1) {
      socket.write(`POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${daemon.adminKey}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
      drip(socket, () => ' ');
    }
    // i % 3 === 2: silent
    slow.push(socket);
  }
  const cut = slow.map((s) => once(s, 'close').then(() => 1));

  // Meanwhile a normal client is served, again and again.
  let served = 0;
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/health`, { headers: { connection: 'close' } });
    if (res.status === 200) served++;
    await res.arrayBuffer();
  }
  t.equal(served, 10, 'every normal request was served while the slow clients held their connections');

  // Greedy: connections up to the cap and past it; those past it are closed at once.
  const greedy: Socket[] = [];
  for (let i = 0; i < CAP; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    greedy.push(socket);
  }
  const greedyClosed = greedy.map((s) => once(s, 'close'));
  await Promise.all(greedy.map((s) => once(s, 'connect').catch(() => undefined)));
  const slowCut = (await Promise.all(cut)).length;
  await Promise.all(greedyClosed);
  t.equal(slowCut, SLOW_CLIENTS, 'every slow client was cut off');
  t.pass('every greedy connection was closed, at the cap or by the header timeout');
  t.comment(`${dropped} connections were closed at once at the cap of ${CAP}`);

  const after = await fetch(`http://127.0.0.1:${port}/v1/health`);
  t.equal(after.status, 200, 'and the daemon serves as before');
  await recordFigures('slow clients', { 'slow clients cut': slowCut, 'greedy connections closed': greedy.length, 'connections closed at the cap': dropped, 'normal requests served meanwhile': served });
});
