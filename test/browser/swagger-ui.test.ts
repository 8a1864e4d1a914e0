/**
 * Swagger UI at /docs as a newcomer uses it, in a real browser (Debian's chromium, driven by
 * playwright-core; never a downloaded browser) against `amsd demo`: the page lists every operation of
 * the contract, "Authorize" takes the demo's keys, and "Try it out" + "Execute" with the untouched
 * defaults succeeds on every operation whose defaults can name what it acts on. Screenshots are kept
 * in .tap/screenshots/swagger-ui/ (printed as a comment).
 * Without /usr/bin/chromium (`apt-get install chromium`) this fails in CI and is skipped, loudly, elsewhere.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Locator, type Page } from 'playwright-core';
import t from 'tap';
import { packageRoot } from '../../openapi/package-root.js';
import { listOperations, loadSpec, type Operation } from '../../openapi/contract.js';
import { startDemo } from '../powershell/demo-process.js';

const CHROMIUM = '/usr/bin/chromium';
const screenshots = join(packageRoot, '.tap', 'screenshots', 'swagger-ui');

/**
 * Operations that act on one object by its generated id (an API key, a rule, a channel): no example
 * can name one that exists in every demo, so Swagger UI asks for the id instead of sending a default.
 */
const NEEDS_AN_ID = new Set([
  'revokeApiKey',
  'updateComputerAuthorizationRule',
  'deleteComputerAuthorizationRule',
  'updateNotificationChannel',
  'deleteNotificationChannel',
  'testNotificationChannel',
]);

const operations = listOperations(loadSpec());

if (!existsSync(CHROMIUM)) {
  const why = `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`;
  if (process.env.CI) {
    t.fail(why);
  } else {
    console.error(`\n*** ${why}. The Swagger UI browser test is SKIPPED. ***\n`);
    t.pass('Swagger UI in a browser', { skip: why });
  }
} else {
  t.test('Swagger UI: every operation listed, and its defaults work against amsd demo', { timeout: 300_000 }, async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'amsd-swagger-ui-'));
    const demo = await startDemo(join(work, 'demo'));
    const browser = await chromium.launch({ executablePath: CHROMIUM, chromiumSandbox: false });
    t.teardown(async () => {
      await browser.close();
      await demo.stop();
      rmSync(work, { recursive: true, force: true });
    });
    const info = JSON.parse(readFileSync(demo.demoJson, 'utf8')) as { adminKeyFile: string; userKeyFile: string };
    const keys = { admin: readFileSync(info.adminKeyFile, 'utf8').trim(), user: readFileSync(info.userKeyFile, 'utf8').trim() };
    rmSync(screenshots, { recursive: true, force: true });
    mkdirSync(screenshots, { recursive: true });
    t.comment(`screenshots: ${screenshots}`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${demo.url}/docs`);
    await page.locator('.opblock').first().waitFor();
    await page.screenshot({ path: join(screenshots, '01-page.png') });

    t.equal(await page.title(), 'amsd', 'the tab is titled amsd');
    t.equal(await page.locator('.topbar').count(), 0, 'no top bar: no fastify logo, no Explore box');
    t.equal(await page.locator('.info a.link').getAttribute('href'), '/openapi.json', 'the link under the title is the published contract');

    const listed = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((b) => b.id));
    t.same(listed.sort(), operations.map((op) => `operations-${op.definition.tags![0]}-${op.operationId}`).sort(), 'every operation of the contract is listed, and nothing else');
    const summary = await operationBlock(page, operations.find((op) => op.operationId === 'listApiKeys')!).locator('.opblock-summary-description').innerText();
    t.match(summary, /^Get-AmsApiKey \(admin only\): /, 'an operation shows its cmdlet and that it is admin-only');

    // The user key for what users may call (the secret reads), then the admin key for the rest.
    const byRole = [
      { role: 'user' as const, ops: operations.filter((op) => !op.adminOnly) },
      { role: 'admin' as const, ops: operations.filter((op) => op.adminOnly) },
    ];
    const asked: string[] = [];
    for (const { role, ops } of byRole) {
      await authorize(page, keys[role]);
      if (role === 'user') await page.screenshot({ path: join(screenshots, '02-authorized.png') });
      for (const op of ops) {
        const block = operationBlock(page, op);
        await block.locator('.opblock-summary').first().click();
        await block.locator('button.try-out__btn').click();
        await block.locator('button.execute').click();
        // Either an answer, or Swagger UI refuses to send the request and marks the field it needs.
        const answer = block.locator('.live-responses-table tbody .response-col_status');
        const refused = block.locator('input.invalid, textarea.invalid, .validation-errors');
        await answer.or(refused).first().waitFor();
        if (await refused.count()) {
          if (NEEDS_AN_ID.has(op.operationId)) asked.push(op.operationId);
          else t.fail(`${op.method.toUpperCase()} ${op.path} (${op.operationId}): Swagger UI asks for a value, its defaults are incomplete`);
        } else {
          const status = (await answer.first().innerText()).trim();
          const body = await block.locator('.live-responses-table .response-col_description .microlight').first().innerText().catch(() => '');
          t.match(status, /^2\d\d$/, `${op.method.toUpperCase()} ${op.path} (${op.operationId}) with its defaults`, /^2/.test(status) ? {} : { body });
          if (op.operationId === 'listDevices' || op.operationId === 'getLocalAdminPassword') {
            await block.scrollIntoViewIfNeeded();
            await block.screenshot({ path: join(screenshots, `03-${op.operationId}.png`) });
          }
        }
        await block.locator('.opblock-summary').first().click(); // fold it again, to keep the page short
      }
    }
    t.same(asked.sort(), [...NEEDS_AN_ID].sort(), 'only the operations on a generated id ask for one instead of sending a default');
    t.same(pageErrors, [], 'the page raised no script error');
  });
}

function operationBlock(page: Page, op: Operation): Locator {
  return page.locator(`#operations-${op.definition.tags![0]}-${op.operationId}`);
}

/** "Authorize" with a bearer token, replacing the one given before. */
async function authorize(page: Page, key: string) {
  await page.locator('.scheme-container button.authorize').click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  const buttons = dialog.locator('.auth-btn-wrapper button');
  const logout = buttons.filter({ hasText: 'Logout' });
  if (await logout.count()) await logout.click();
  await dialog.locator('input').fill(key);
  await buttons.filter({ hasText: 'Authorize' }).click();
  await dialog.locator('button.btn-done').click();
}
