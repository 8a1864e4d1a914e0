/** `amsd demo` from dist/, on port 0 and its own data directory, for tests that drive it from outside. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../openapi/package-root.js';

export interface DemoProcess {
  demoJson: string;
  url: string;
  /** What it printed until it was serving: the banner with the lines to try. */
  banner: string;
  stop(): Promise<void>;
}

export async function startDemo(dataDir: string): Promise<DemoProcess> {
  const child = spawn(process.execPath, [join(packageRoot, 'dist', 'daemon', 'cli.js'), 'demo', '--port', '0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A test killed at its timeout runs no teardown: the demo goes with the test process anyway.
  const stopWithUs = () => child.kill('SIGTERM');
  process.once('exit', stopWithUs);
  child.once('exit', () => process.removeListener('exit', stopWithUs));
  let output = '';
  const demoJson = join(dataDir, 'demo.json');
  // The banner (on standard error; logs go to standard output) is printed once demo.json is written.
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('amsd demo is running') && existsSync(demoJson)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`amsd demo exited with ${code} before serving:\n${output.slice(-4000)}`)));
  });
  const url = (JSON.parse(readFileSync(demoJson, 'utf8')) as { url: string }).url;
  return {
    demoJson,
    url,
    banner: output,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
