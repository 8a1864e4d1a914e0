/**
 * The snapshot's text, made in pieces. `JSON.stringify(state, null, 2)` of 10,000 rules is ~11 MB
 * and held the event loop for 22-38 ms in one go (every read arriving meanwhile waited that long);
 * here the rows are serialised a slice at a time into pieces of about PIECE_CHARS characters, with a
 * turn of the event loop between pieces, so a fold delays a read by about one piece (~1 ms) at most. The text
 * is exactly what `JSON.stringify(state, null, 2) + '\n'` gives: the snapshot's format is unchanged.
 */
import type { State } from './state.js';

/** Characters per piece: ~0.25 MB, about a millisecond of serialising. */
export const PIECE_CHARS = 256 * 1024;

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `JSON.stringify(value, null, 2)` as it appears nested under `indent`. */
function nested(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${indent}`);
}

/**
 * Rows as they appear in a top-level array of the snapshot, without the last comma: stringified
 * wrapped in two arrays, which puts them at that depth in one pass, and the wrapping cut off.
 */
function rowsText(rows: readonly unknown[]): string {
  const text = JSON.stringify([rows], null, 2);
  return text.slice('[\n  [\n'.length, -'\n  ]\n]'.length);
}

/**
 * The pieces of the state's text, as UTF-8. The values are read as the pieces are made: the caller
 * passes a state whose rows are never changed (the store puts new row objects, it never edits one).
 */
export async function* snapshotPieces(state: State, pieceChars = PIECE_CHARS): AsyncGenerator<Buffer> {
  const fields = Object.entries(state).filter(([, value]) => value !== undefined);
  let piece = '{\n';
  for (const [f, [name, value]] of fields.entries()) {
    piece += `  ${JSON.stringify(name)}: `;
    if (Array.isArray(value) && value.length > 0) {
      piece += '[\n';
      // Rows a slice at a time, each slice sized from the rows before it to make about a quarter of a piece.
      let count = 16;
      for (let start = 0; start < value.length; ) {
        const end = Math.min(value.length, start + count);
        const text = rowsText(value.slice(start, end));
        piece += `${text}${end < value.length ? ',' : ''}\n`;
        count = Math.max(1, Math.round((pieceChars * (end - start)) / 4 / Math.max(1, text.length)));
        start = end;
        if (piece.length >= pieceChars) {
          yield Buffer.from(piece, 'utf8');
          piece = '';
          await turn();
        }
      }
      piece += '  ]';
    } else {
      piece += nested(value, '  ');
    }
    piece += f < fields.length - 1 ? ',\n' : '\n';
  }
  yield Buffer.from(`${piece}}\n`, 'utf8');
}
