/**
 * The delivery queue: retries with backoff on a clock moved by hand, restarts that lose nothing, final
 * failures kept and reported once, and a queue file it cannot trust refused.
 */
import t, { type Test } from 'tap';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChannelRecord } from '../../daemon/store/records.js';
import { NotificationQueue, QueueLoadError, queueFilePath, type FailedDelivery, type NotificationQueueOptions } from '../../daemon/notifications/queue.js';
import { tempDir } from '../helpers.js';
import { ManualClock, channel, event, sealer, startReceiver } from './fixtures.js';

interface Setup {
  file: string;
  clock: ManualClock;
  channels: Map<string, ChannelRecord>;
  reported: FailedDelivery[];
  errors: unknown[];
  open(options?: Partial<NotificationQueueOptions>): Promise<NotificationQueue>;
}

async function setUp(t: Test): Promise<Setup> {
  const file = queueFilePath(join(await tempDir(t, 'amsd-queue-'), 'data'));
  const setup: Setup = {
    file,
    clock: new ManualClock(),
    channels: new Map(),
    reported: [],
    errors: [],
    async open(options = {}) {
      const queue = await NotificationQueue.open({
        file,
        channel: (id) => setup.channels.get(id),
        deliverOptions: { sealer, timeoutMs: 2000 },
        clock: setup.clock,
        // No jitter, so the waits are exactly the steps.
        random: () => 0.5,
        onFinalFailure: (delivery) => void setup.reported.push(delivery),
        onError: (error) => void setup.errors.push(error),
        ...options,
      });
      t.teardown(() => queue.stop());
      return queue;
    },
  };
  return setup;
}

function webhookTo(url: string, name = 'hook'): ChannelRecord {
  return channel({ name, kind: 'webhook', url, bodyTemplate: '{"code": "{{Code}}", "request": "{{RequestId}}"}' });
}

t.test('a failing endpoint is retried with backoff and succeeds later, with one delivery id', async (t) => {
  const s = await setUp(t);
  let failures = 2;
  const receiver = await startReceiver(t, () => (failures-- > 0 ? 503 : 200));
  const hook = webhookTo(`${receiver.url}/hook`);
  s.channels.set(hook.id, hook);
  const queue = await s.open();
  queue.start();

  const id = await queue.enqueue(hook.id, event(), { ruleDescription: 'Helpdesk' });
  t.match(JSON.parse(await readFile(s.file, 'utf8')).pending, [{ id, channelId: hook.id, attempts: 0 }], 'on disk once enqueue resolves');
  await queue.idle();
  t.equal(receiver.requests.length, 1, 'tried at once');
  t.match(queue.pending(), [{ id, attempts: 1, lastError: /answered 503/, nextAttemptAt: new Date(s.clock.now() + 10_000).toISOString() }]);

  s.clock.advance(9_999);
  await queue.idle();
  t.equal(receiver.requests.length, 1, 'not before the first wait (10 s) is over');
  s.clock.advance(1);
  await queue.idle();
  t.equal(receiver.requests.length, 2, 'tried again after 10 s');
  t.match(queue.pending(), [{ attempts: 2, nextAttemptAt: new Date(s.clock.now() + 30_000).toISOString() }], 'the next wait is longer (30 s)');

  s.clock.advance(30_000);
  await queue.idle();
  t.equal(receiver.requests.length, 3);
  t.same(queue.pending(), [], 'delivered, and gone from the queue');
  t.same(queue.failed(), []);
  t.same(JSON.parse(await readFile(s.file, 'utf8')).pending, [], 'gone from the file too');
  t.same(new Set(receiver.requests.map((r) => r.headers['x-ams-delivery-id'])), new Set([id]), 'every attempt carries the same delivery id');
  t.same(JSON.parse(receiver.requests[2]!.body), { code: 'Success', request: 'req-42' });
  t.same(s.reported, []);
  t.same(s.errors, []);
});

t.test('jitter varies each wait by up to ±20 %', async (t) => {
  for (const [random, wait] of [[0, 8_000], [1, 12_000]] as const) {
    const s = await setUp(t);
    const receiver = await startReceiver(t, () => 500);
    const hook = webhookTo(receiver.url);
    s.channels.set(hook.id, hook);
    const queue = await s.open({ random: () => random });
    queue.start();
    await queue.enqueue(hook.id, event());
    await queue.idle();
    t.equal(Date.parse(queue.pending()[0]!.nextAttemptAt) - s.clock.now(), wait, `random ${random}: ${wait} ms`);
  }
});

t.test('a delivery pending at stop() is delivered by the next queue on the same file', async (t) => {
  const s = await setUp(t);
  let up = false;
  const receiver = await startReceiver(t, () => (up ? 204 : 503));
  const hook = webhookTo(`${receiver.url}/hook`);
  s.channels.set(hook.id, hook);

  const first = await s.open();
  first.start();
  const id = await first.enqueue(hook.id, event());
  const notStarted = await first.enqueue(hook.id, event({ requestId: 'req-43' }));
  await first.idle();
  await first.stop();
  t.equal(receiver.requests.length, 2, 'both tried once, both failed');

  up = true;
  s.clock.advance(60_000);
  t.equal(receiver.requests.length, 2, 'a stopped queue does nothing');
  const second = await s.open();
  t.match(second.pending(), [{ id, attempts: 1, lastError: /503/ }, { id: notStarted, attempts: 1 }], 'the new queue has what the old one left');
  second.start();
  await second.idle();
  t.equal(receiver.requests.length, 4);
  t.same(second.pending(), []);
  t.same(receiver.requests.slice(2).map((r) => r.headers['x-ams-delivery-id']).sort(), [id, notStarted].sort());
});

t.test('stop() waits for deliveries in flight', async (t) => {
  const s = await setUp(t);
  // The receiver holds its answer until the test has called stop(): the delivery is in flight meanwhile.
  let arrived: () => void = () => undefined;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  let answer: () => void = () => undefined;
  const receiver = await startReceiver(t, (_request, response) => {
    answer = () => {
      response.statusCode = 200;
      response.end();
    };
    arrived();
    return undefined;
  });
  const hook = webhookTo(receiver.url);
  s.channels.set(hook.id, hook);
  const queue = await s.open();
  queue.start();
  await queue.enqueue(hook.id, event());
  await requestArrived;
  let stopped = false;
  const stopping = queue.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(stopped, 'stop() is still waiting while the receiver has not answered');
  answer();
  await stopping;
  t.same(queue.pending(), [], 'the delivery under way finished, and its outcome is recorded');
  t.same(JSON.parse(await readFile(s.file, 'utf8')).pending, []);
});

t.test('a final failure is kept, listed and reported once — also across a restart', async (t) => {
  const s = await setUp(t);
  const receiver = await startReceiver(t, () => 500);
  const hook = webhookTo(`${receiver.url}/hook`, 'Always down');
  s.channels.set(hook.id, hook);
  const queue = await s.open({ maxAttempts: 3 });
  queue.start();
  const id = await queue.enqueue(hook.id, event());
  await queue.idle();
  s.clock.advance(10_000);
  await queue.idle();
  t.same(s.reported, [], 'not reported while attempts remain');
  s.clock.advance(30_000);
  await queue.idle();
  t.equal(receiver.requests.length, 3);
  t.same(queue.pending(), []);
  t.match(queue.failed(), [{ id, channelId: hook.id, channelName: 'Always down', attempts: 3, lastError: /answered 500/, event: { requestId: 'req-42' }, reportedAt: /Z$/ }]);
  t.equal(s.reported.length, 1, 'reported once');
  t.match(s.reported[0], { id, attempts: 3 });
  s.clock.advance(24 * 3_600_000);
  await queue.idle();
  t.equal(receiver.requests.length, 3, 'never tried again');
  await queue.stop();

  const reopened = await s.open({ maxAttempts: 3 });
  reopened.start();
  await reopened.idle();
  t.equal(s.reported.length, 1, 'not reported again after a restart');
  t.match(reopened.failed(), [{ id }], 'still listed');
});

t.test('answers that rule out a retry fail at once; a removed or disabled channel too', async (t) => {
  const s = await setUp(t);
  const receiver = await startReceiver(t, () => 404);
  const hook = webhookTo(receiver.url);
  const disabled = { ...webhookTo(receiver.url, 'disabled'), enabled: false };
  s.channels.set(hook.id, hook);
  s.channels.set(disabled.id, disabled);
  const queue = await s.open();
  queue.start();
  await queue.enqueue(hook.id, event());
  await queue.enqueue(disabled.id, event());
  await queue.enqueue('00000000-0000-4000-8000-00000000dead', event());
  await queue.idle();
  t.equal(receiver.requests.length, 1, 'a disabled or removed channel is not called');
  t.same(queue.failed().map((f) => [f.attempts, f.lastError.replace(/\d+/g, 'N')]).sort(), [
    [1, 'http://N.N.N.N:N answered N: failure N'],
    [1, 'the channel is disabled'],
    [1, 'the channel was removed before the notification could be delivered'],
  ]);
  t.equal(s.reported.length, 3);
});

t.test('a report that fails is made again at the next start', async (t) => {
  const s = await setUp(t);
  const receiver = await startReceiver(t, () => 400);
  const hook = webhookTo(receiver.url);
  s.channels.set(hook.id, hook);
  const queue = await s.open({ onFinalFailure: () => Promise.reject(new Error('audit trail unavailable')) });
  queue.start();
  await queue.enqueue(hook.id, event());
  await queue.idle();
  await queue.stop();
  t.match(s.errors, [/audit trail unavailable/]);
  t.notOk(queue.failed()[0]!.reportedAt);

  const reopened = await s.open();
  reopened.start();
  await reopened.idle();
  t.equal(s.reported.length, 1, 'reported now');
  t.ok(reopened.failed()[0]!.reportedAt);
});

t.test('the failed list is bounded, oldest first out', async (t) => {
  const s = await setUp(t);
  const receiver = await startReceiver(t, () => 400);
  const hook = webhookTo(receiver.url);
  s.channels.set(hook.id, hook);
  const queue = await s.open({ maxFailed: 2 });
  queue.start();
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await queue.enqueue(hook.id, event({ requestId: `req-${i}` })));
    await queue.idle();
  }
  t.same(queue.failed().map((f) => f.id), ids.slice(1));
  t.equal(s.reported.length, 3, 'each was reported before it could fall off');
});

t.test('deliverNow sends at once and says how it went, queueing nothing', async (t) => {
  const s = await setUp(t);
  let status = 200;
  const receiver = await startReceiver(t, () => status);
  const hook = webhookTo(receiver.url);
  const queue = await s.open();
  t.same(await queue.deliverNow(hook, event()), { ok: true }, 'works without start() and without the channel in the lookup');
  status = 503;
  t.match(await queue.deliverNow(hook, event()), { ok: false, retryable: true, error: /503/ });
  t.equal(receiver.requests.length, 2);
  t.same(queue.pending(), []);
  t.same(queue.failed(), []);
});

t.test('a queue file that cannot be trusted stops the queue with a clear message, untouched', async (t) => {
  const s = await setUp(t);
  const queue = await s.open();
  await queue.enqueue('00000000-0000-4000-8000-000000000001', event());
  await queue.stop();

  for (const [content, problem] of [
    ['{"version": 1, "pending": [', /is not valid JSON/],
    ['{"version": 1, "pending": [{"id": "x"}], "failed": []}', /does not match queue version 1: \/pending\/0 must have required property/],
    ['{"version": 9, "pending": [], "failed": []}', /written by a newer amsd/],
    ['[]', /does not match/],
  ] as const) {
    await writeFile(s.file, content);
    const error = await s.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof QueueLoadError, `refused: ${content}`);
    t.match((error as Error).message, problem);
    t.match((error as Error).message, s.file, 'names the file');
    t.match((error as Error).message, /has not changed it/);
    t.equal(await readFile(s.file, 'utf8'), content, 'the file is left as it was');
  }
  t.same((await readdir(join(s.file, '..'))).sort(), ['queue.json'], 'no temporary files left behind');
});
