/**
 * Secrets kept at rest (tenant client secrets, channel credentials) are sealed with AES-256-GCM under
 * the master key. Each sealed value is bound to what it belongs to (`context`, used as additional
 * authenticated data), so a sealed value copied into another record does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const FORMAT = 'v1';

export interface Sealer {
  seal(plaintext: string, context: string): string;
  /** Throws when the value was sealed under another key or context, or was altered. */
  unseal(sealed: string, context: string): string;
}

export function createSealer(masterKey: Buffer): Sealer {
  if (masterKey.length !== KEY_BYTES) throw new Error(`The master key must be ${KEY_BYTES} bytes, got ${masterKey.length}`);
  return {
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [FORMAT, iv, cipher.getAuthTag(), ciphertext].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    unseal(sealed, context) {
      const [format, iv, tag, ciphertext] = sealed.split('.');
      if (format !== FORMAT || iv === undefined || tag === undefined || ciphertext === undefined) {
        throw new Error('Not a sealed value of a known format');
      }
      const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}

export interface MasterKeySource {
  key: Buffer;
  file: string;
  generated: boolean;
  /** Set when the key file can be read by other users than its owner. */
  warning?: string;
}

/**
 * The master key comes from `$AMS_MASTER_KEY_FILE` (32 bytes, raw or as base64 or hex text), or is
 * generated on first start as `<data-dir>/master.key` with mode 0600 (unless `create` is false: the
 * audit commands, which only work on a data directory that exists).
 */
export async function loadMasterKey(dataDir: string, keyFile: string | undefined, options: { create?: boolean } = {}): Promise<MasterKeySource> {
  const file = keyFile ?? join(dataDir, 'master.key');
  let generated = false;
  if (keyFile === undefined && options.create !== false) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(randomBytes(KEY_BYTES).toString('base64') + '\n');
      await handle.sync();
      await handle.close();
      generated = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  let content: Buffer;
  try {
    content = await readFile(file);
  } catch (error) {
    throw new Error(`Cannot read the master key file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const key = decodeKey(content);
  if (!key) {
    throw new Error(`The master key file ${file} must hold ${KEY_BYTES} bytes, raw or as base64 or hex text.`);
  }
  const mode = (await stat(file)).mode & 0o777;
  const warning =
    process.platform !== 'win32' && (mode & 0o077) !== 0
      ? `The master key file ${file} can be read by other users (mode ${mode.toString(8)}); run chmod 600 on it.`
      : undefined;
  if (generated) await chmod(file, 0o600);
  return { key, file, generated, ...(warning ? { warning } : {}) };
}

function decodeKey(content: Buffer): Buffer | undefined {
  if (content.length === KEY_BYTES) return content;
  const text = content.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const decoded = Buffer.from(text, 'base64');
  return decoded.length === KEY_BYTES && /^[A-Za-z0-9+/=_-]+$/.test(text) ? decoded : undefined;
}
