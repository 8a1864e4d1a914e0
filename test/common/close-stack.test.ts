/**
 * CloseStack, which openDaemon closes its areas with: newest first, each close awaited before the next,
 * a failing close not keeping the others open, and the failures reported once all have run.
 */
import t from 'tap';
import { CloseStack } from '../../daemon/common/close-stack.js';

/** A stack of named closes that record when they start and end; `failing` ones reject. */
function recorded(names: string[], failing: string[] = []) {
  const log: string[] = [];
  const stack = new CloseStack();
  for (const name of names) {
    stack.push(name, async () => {
      log.push(`start ${name}`);
      await Promise.resolve(); // a close that is not synchronous: the next must wait for it
      log.push(`end ${name}`);
      if (failing.includes(name)) throw new Error(`${name} failed`);
    });
  }
  return { stack, log };
}

t.test('closes in the reverse order of opening, one after the other', async (t) => {
  const { stack, log } = recorded(['lock', 'store', 'queue']);
  await stack.close();
  t.same(log, ['start queue', 'end queue', 'start store', 'end store', 'start lock', 'end lock']);
});

t.test('one failing close still closes the rest, then rejects with its own error', async (t) => {
  const { stack, log } = recorded(['lock', 'store', 'queue'], ['store']);
  await t.rejects(stack.close(), new Error('store failed'));
  t.same(log.filter((l) => l.startsWith('end')), ['end queue', 'end store', 'end lock'], 'the lock is released after the store failed');
});

t.test('several failing closes reject with an AggregateError naming them', async (t) => {
  const { stack, log } = recorded(['lock', 'store', 'queue'], ['queue', 'lock']);
  const error = await stack.close().catch((e: unknown) => e);
  t.type(error, AggregateError);
  t.match(error, { message: 'could not close queue, lock', errors: [{ message: 'queue failed' }, { message: 'lock failed' }] });
  t.equal(log.length, 6, 'every close ran');
});

t.test('a synchronous close that throws does not stop the others', async (t) => {
  const closed: string[] = [];
  const stack = new CloseStack();
  stack.push('timer', () => closed.push('timer'));
  stack.push('broken', () => {
    throw new Error('broken');
  });
  await t.rejects(stack.close(), { message: 'broken' });
  t.same(closed, ['timer']);
});

t.test('closing twice closes once; nothing can be opened once closing began', async (t) => {
  const { stack, log } = recorded(['store']);
  await Promise.all([stack.close(), stack.close()]);
  t.same(log, ['start store', 'end store']);
  t.throws(() => stack.push('late', () => undefined), { message: 'late was opened after closing began' });
});
