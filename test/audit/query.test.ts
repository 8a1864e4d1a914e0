/**
 * Get-AmsAuditEvent's query: each filter against a plain filter over every event, newest first, and
 * paging that returns every match exactly once — from the index built at open and on append, and from
 * the table of the trail in PostgreSQL (the same events, the same answers).
 */
import t from 'tap';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessType, ResultCode } from '../../daemon/access/types.js';
import { openAuditLog } from '../../daemon/audit/audit-log.js';
import type { AuditTrail } from '../../daemon/audit/audit-trail.js';
import { AuditEventIndex, AuditQueryError, type AuditQuery } from '../../daemon/audit/event-index.js';
import type { AuditActor, AuditDevice, AuditEvent, AuditEventInput, ChangeEventType } from '../../daemon/audit/events.js';
import { alice, bob, change, notFound, pc1, pc2, scriptKey, secretRead, writeChain, testKey } from './sample-events.js';
import { tempDir, type TestContext } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { seededDatabaseTrail } from './database-trail.js';

const postgres = postgresClusterFor(t);
/** The trails every query test runs against: the data directory's file, and the table in PostgreSQL. */
const TRAILS = ['file', 'postgres'] as const;
type TrailKind = (typeof TRAILS)[number];
const needs = (kind: TrailKind) => (kind === 'postgres' ? needsPostgres(t) : {});

const START = Date.parse('2020-03-01T00:00:00.000Z');
const MINUTE = 60_000;
const actors = [alice, bob, scriptKey];
const devices: AuditDevice[] = [pc1, pc2, notFound];
const codes: ResultCode[] = ['Success', 'Success', 'NoMatchingRuleForUser', 'ExplicitlyDenied', 'UserRateLimitExceeded'];
const accessTypes: AccessType[] = ['LocalAdminPassword', 'LocalAdminPasswordHistory', 'BitLockerRecoveryKey'];
const changes: ChangeEventType[] = ['rule.created', 'rule.updated', 'tenant.updated', 'apiKey.created'];

/** A varied, deterministic mix: mostly secret reads, every fifth a change. */
function input(i: number): AuditEventInput {
  const actor = actors[i % actors.length]!;
  if (i % 5 === 4) return change(actor, changes[i % changes.length]!, { n: i - 1 }, { n: i });
  const device = devices[i % devices.length]!;
  const code = 'query' in device ? 'DeviceNotFound' : codes[i % codes.length]!;
  return secretRead(actor, device, code, accessTypes[i % accessTypes.length]);
}

/**
 * 150 events written a minute apart (indexed when the log opens; in PostgreSQL, the same events seeded
 * into the table), then 10 appended live (indexed on append).
 */
async function fixture(t: TestContext, kind: TrailKind = 'file'): Promise<{ log: AuditTrail; all: AuditEvent[] }> {
  const file = join(await tempDir(t), 'audit.jsonl');
  const written = await writeChain(file, Array.from({ length: 150 }, (_, i) => ({ content: input(i), time: new Date(START + i * MINUTE) })));
  let log: AuditTrail;
  if (kind === 'postgres') {
    log = (await seededDatabaseTrail(t, await postgres.database(), written)).trail;
  } else {
    const opened = await openAuditLog(file, { key: testKey });
    t.teardown(() => opened.log.close());
    log = opened.log;
  }
  const appended: AuditEvent[] = [];
  for (let i = 150; i < 160; i++) appended.push(await log.append(input(i)));
  return { log, all: [...written, ...appended] };
}

/** Every page of a query, following the cursor. */
async function allPages(log: AuditTrail, query: AuditQuery): Promise<{ seqs: number[]; pages: number }> {
  const seqs: number[] = [];
  let pages = 0;
  let cursor: string | undefined;
  do {
    const page = await log.query({ ...query, ...(cursor === undefined ? {} : { cursor }) });
    seqs.push(...page.events.map((event) => event.seq));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== undefined && pages < 1000);
  return { seqs, pages };
}

const newestFirst = (events: AuditEvent[]) => events.map((event) => event.seq).reverse();
const actorOf = (event: AuditEvent): AuditActor => event.actor;
const deviceOf = (event: AuditEvent) => (event.type === 'secret.read' ? (event.device as unknown as Record<string, string>) : undefined);
const time = (event: AuditEvent) => Date.parse(event.time);
const codeOf = (event: AuditEvent) => (event.type === 'secret.read' ? event.outcome.code : undefined);

for (const kind of TRAILS) {
  t.test(`${kind}: each filter returns exactly the matching events, newest first`, needs(kind), async (t) => {
    const { log, all } = await fixture(t, kind);
    const at = (i: number) => new Date(START + i * MINUTE).toISOString();
    const cases: [string, AuditQuery, (event: AuditEvent) => boolean][] = [
      ['no filter', {}, () => true],
      ['from (inclusive)', { from: at(140) }, (e) => time(e) >= time(all[140]!)],
      ['to (exclusive)', { to: at(10) }, (e) => time(e) < time(all[10]!)],
      ['from and to', { from: at(20), to: at(30) }, (e) => e.seq >= 21 && e.seq <= 30],
      ['from, reaching the events appended live', { from: at(149) }, (e) => e.seq >= 150],
      ['user by id', { user: bob.id }, (e) => actorOf(e).id === bob.id],
      ['user by UPN, any case', { user: 'ALICE@contoso.example' }, (e) => actorOf(e).id === alice.id],
      ['user by display name', { user: 'nightly script' }, (e) => actorOf(e).id === scriptKey.id],
      ['user nobody is', { user: 'mallory@contoso.example' }, () => false],
      ['device by name, any case', { device: 'pc-001' }, (e) => deviceOf(e)?.deviceName === 'PC-001'],
      ['device by deviceId', { device: 'dddd0002-0000-4000-8000-000000000002' }, (e) => deviceOf(e)?.deviceName === 'PC-002'],
      ['device by what was typed for one not found', { device: 'PC-404' }, (e) => deviceOf(e)?.query === 'PC-404'],
      ['access type', { accessType: 'BitLockerRecoveryKey' }, (e) => e.type === 'secret.read' && e.accessType === 'BitLockerRecoveryKey'],
      ['outcome success', { outcome: 'success' }, (e) => codeOf(e) === 'Success'],
      ['outcome failure (change events have no outcome)', { outcome: 'failure' }, (e) => codeOf(e) !== undefined && codeOf(e) !== 'Success'],
      ['outcome by result code', { outcome: 'ExplicitlyDenied' }, (e) => codeOf(e) === 'ExplicitlyDenied'],
      ['event type', { type: 'rule.updated' }, (e) => e.type === 'rule.updated'],
      [
        'everything at once',
        { user: 'bob@contoso.example', device: 'PC-002', outcome: 'failure', from: at(5), to: at(155) },
        (e) => actorOf(e).id === bob.id && deviceOf(e)?.deviceName === 'PC-002' && codeOf(e) !== 'Success' && e.seq >= 6 && e.seq <= 150,
      ],
    ];
    for (const [name, query, matches] of cases) {
      const expected = newestFirst(all.filter(matches));
      const { seqs } = await allPages(log, { ...query, top: 1000 });
      t.same(seqs, expected, `${name}: ${expected.length} events`);
    }
  });
}

for (const kind of TRAILS) {
  t.test(`${kind}: pages: default 100, the cursor covers every match exactly once, the last page has no cursor`, needs(kind), async (t) => {
    const { log, all } = await fixture(t, kind);
    const first = await log.query();
    t.equal(first.events.length, 100, 'a default page is 100');
    t.same(first.events.map((event) => event.seq), newestFirst(all).slice(0, 100));
    t.same(first.events[0], all.at(-1), 'events come back whole, as stored');
    t.type(first.nextCursor, 'string');

    for (const [query, expected] of [
      [{ top: 7 }, newestFirst(all)],
      [{ top: 1 }, newestFirst(all)],
      [{ top: 3, user: alice.userPrincipalName }, newestFirst(all.filter((e) => actorOf(e).id === alice.id))],
    ] as [AuditQuery, number[]][]) {
      const { seqs, pages } = await allPages(log, query);
      t.same(seqs, expected, `top ${query.top}: every match once, in order`);
      t.equal(pages, Math.ceil(expected.length / query.top!), `top ${query.top}: no empty last page`);
    }

    const exact = await log.query({ type: 'rule.created', top: all.filter((e) => e.type === 'rule.created').length });
    t.equal(exact.nextCursor, undefined, 'no cursor when the page holds the last match');
  });
}

for (const kind of TRAILS) {
  t.test(`${kind}: events appended between pages do not shift the pages already being read`, needs(kind), async (t) => {
    const { log, all } = await fixture(t, kind);
    const first = await log.query({ top: 50 });
    await log.append(secretRead(alice, pc1));
    const second = await log.query({ top: 50, cursor: first.nextCursor! });
    t.same(second.events.map((event) => event.seq), newestFirst(all).slice(50, 100));
    t.equal((await log.query({ top: 1 })).events[0]?.seq, 161, 'the new event heads a fresh query');
  });
}

t.test('a page of events next to each other in the file is read in one read, not one per event', async (t) => {
  const { log, all } = await fixture(t);
  // FileHandle is not exported: its prototype is that of any handle.
  const probe = await open(join(await tempDir(t), 'probe'), 'w');
  const prototype = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const read = prototype.read;
  let reads = 0;
  prototype.read = function (this: unknown, ...args: unknown[]) {
    reads++;
    return read.apply(this, args);
  };
  t.teardown(() => {
    prototype.read = read;
  });
  const page = await log.query({ top: 160 });
  prototype.read = read;
  t.same(page.events.map((event) => event.seq), newestFirst(all), 'every event, newest first');
  t.equal(reads, 1, 'in one read');
});

t.test('read spans: neighbouring lines together, far ones apart, none past its size cap', async (t) => {
  const index = new AuditEventIndex();
  const line = (seq: number) => ({ seq, time: new Date(START + seq * MINUTE).toISOString(), type: 'secret.read' }) as unknown as AuditEvent;
  // Lines of 1000 bytes (seq 4 to 48 are 45 KB), then seq 50 on of 300 KB each.
  let offset = 0;
  for (let seq = 1; seq <= 60; seq++) {
    const length = seq >= 50 ? 300 * 1024 : 1000;
    index.add(line(seq), offset, length);
    offset += length + 1;
  }
  const spans = index.readSpans([49, 3, 1, 2, 50, 51, 52, 53, 54]);
  t.same(spans.map((span) => span.lines.map((l) => l.seq)), [[1, 2, 3], [49, 50, 51, 52], [53, 54]], 'a new read past a gap of 16 KB or past 1 MB');
  t.same(spans[0]!.lines.map((l) => l.start), [0, 1001, 2002], 'each line at its place in its read');
  t.equal(spans[0]!.length, 3002, 'from the first line to the end of the last');
  t.same(index.readSpans([1, 5, 10]).map((span) => span.lines.map((l) => l.seq)), [[1, 5, 10]], 'gaps under 16 KB are read through');
  t.ok(spans.every((span) => span.length <= 1024 * 1024));
});

for (const kind of TRAILS) {
  t.test(`${kind}: a wrong query is an AuditQueryError that says what is wrong`, needs(kind), async (t) => {
    const { log } = await fixture(t, kind);
    const cases: [AuditQuery, RegExp][] = [
      [{ top: 0 }, /top must be a whole number from 1 to 1000/],
      [{ top: 1001 }, /top must be/],
      [{ top: 2.5 }, /top must be/],
      [{ cursor: 'abc' }, /cursor is not one this audit trail gave out/],
      [{ cursor: '0' }, /cursor is not/],
      [{ cursor: '999' }, /cursor is not/],
      [{ from: 'yesterday' }, /from must be a date and time \(ISO 8601\), not "yesterday"/],
      [{ to: '2020-13-45' }, /to must be a date and time/],
    ];
    for (const [query, message] of cases) {
      const error = await log.query(query).then(() => undefined, (e: unknown) => e);
      t.type(error, AuditQueryError, JSON.stringify(query));
      t.match((error as Error).message, message, JSON.stringify(query));
    }
    t.equal((await log.query({ top: 1000 })).events.length, 160, 'a top of 1000 is allowed');
  });
}
