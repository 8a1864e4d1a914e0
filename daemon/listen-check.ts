/**
 * Whether the daemon can listen where it was told to, asked before anything is written to the data
 * directory: a first start that cannot listen must not leave an admin key behind, and a demo whose port
 * is taken must not touch the files of the demo that holds it.
 */
import { createServer } from 'node:net';

/** What to do about a failed listen, in words for the person who typed the command. */
export function listenFailure(host: string, port: number, error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE':
      return `port ${port} is in use on ${host}; choose another with --port (0 picks a free one)`;
    case 'EACCES':
      return `port ${port} on ${host} needs privileges this process does not have; choose another with --port (1024 or above)`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine; choose another with --host`;
    default:
      return `cannot listen on ${host}:${port}: ${(error as Error).message}`;
  }
}

export class CannotListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CannotListenError';
  }
}

/**
 * Binds host:port and lets it go again; throws CannotListenError saying what to change when that fails.
 * Port 0 always works (the system picks one). Another process may still take the port before the
 * daemon listens; then the listen itself fails, with the same words.
 */
export async function checkCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, resolve);
    });
  } catch (error) {
    throw new CannotListenError(listenFailure(host, port, error));
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
