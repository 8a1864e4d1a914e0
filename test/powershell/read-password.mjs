// The password the HTTP API answers for a device, read without PowerShell, for module.smoke.ps1 to compare with.
//   node read-password.mjs <url> <key file> <computer name>
import { readFileSync } from 'node:fs';

const [url, keyFile, computerName] = process.argv.slice(2);
const response = await fetch(`${url}/v1/secrets/local-admin-password`, {
  method: 'POST',
  headers: { authorization: `Bearer ${readFileSync(keyFile, 'utf8').trim()}`, 'content-type': 'application/json' },
  body: JSON.stringify({ computerName }),
});
if (!response.ok) {
  console.error(`${response.status} ${await response.text()}`);
  process.exit(1);
}
process.stdout.write(await response.text());
