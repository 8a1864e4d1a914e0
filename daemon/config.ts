import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a user's data lives when neither --data-dir nor $AMS_DATA_DIR says. */
export function defaultDataDir(env = process.env, platform = process.platform): string {
  if (env.AMS_DATA_DIR) return env.AMS_DATA_DIR;
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'amsd');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'amsd');
  return join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'amsd');
}

/** `amsd demo`'s data directory when --data-dir does not say (here, so the CLI need not load the demo to show it). */
export function defaultDemoDataDir(): string {
  return join(tmpdir(), 'amsd-demo');
}
