/**
 * The snapshot's text made in pieces: byte for byte what JSON.stringify(state, null, 2) wrote before,
 * whatever the piece size, with a turn of the event loop between pieces (a fold no longer holds the
 * loop for the whole serialisation: requests run between its pieces).
 */
import t from 'tap';
import { snapshotPieces } from '../../daemon/store/snapshot-text.js';
import { emptyState, type State } from '../../daemon/store/state.js';

async function collect(state: State, pieceChars?: number): Promise<{ text: string; pieces: number }> {
  const buffers: Buffer[] = [];
  for await (const piece of snapshotPieces(state, pieceChars)) buffers.push(piece);
  return { text: Buffer.concat(buffers).toString('utf8'), pieces: buffers.length };
}

const key = (n: number) => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  name: `key ${n} «ünïcödé» "quoted"\nand a newline`,
  role: 'admin' as const,
  prefix: 'ams_abcd',
  hash: 'a'.repeat(64),
  createdAt: '2026-01-01T00:00:00.000Z',
  createdBy: 'test',
});

function stateWith(keys: number): State {
  return {
    ...emptyState(),
    revision: 42,
    apiKeys: Array.from({ length: keys }, (_, n) => key(n)),
    settings: { userRateLimitPerDay: 9, failureChannels: ['a', 'b'] } as State['settings'],
  };
}

t.test('the text is exactly JSON.stringify(state, null, 2) + newline, for any piece size', async (t) => {
  for (const state of [emptyState(), stateWith(1), stateWith(300), { ...stateWith(2), auditTrail: undefined }]) {
    const expected = JSON.stringify(state, null, 2) + '\n';
    for (const pieceChars of [1, 100, 5_000, undefined]) {
      const { text } = await collect(state, pieceChars);
      t.equal(text, expected, `${state.apiKeys.length} keys, pieces of ${pieceChars ?? 'the default'} characters`);
    }
  }
});

t.test('a large state comes in many pieces, and the event loop turns between them', async (t) => {
  const state = stateWith(300);
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const pieces: number[] = [];
  for await (const piece of snapshotPieces(state, 4_096)) if (piece.length > 0) pieces.push(turns);
  counting = false;
  t.ok(pieces.length > 10, `${pieces.length} pieces`);
  t.ok(pieces.at(-1)! >= pieces.length - 1, 'a callback waiting for the loop ran between every two pieces');
});
