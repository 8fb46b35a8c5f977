// The API reference at /docs in Debian's Chromium, under the same Content-Security-Policy as the
// account page (only our own origin, no inline script or style, no framing): it renders the
// operations of /openapi.json, expands one, breaks no rule of the policy, and asks nothing of
// another host.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { useStack } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';

describe('the API reference (/docs) in Chromium', () => {
  let base: string;
  let browser: Browser;
  // Registered before useStack() so that Chromium is closed before the server it talks to.
  after(async () => browser?.close());
  const ctx = useStack({ db: 'sqlite', cache: 'memory' });

  before(async () => {
    base = await ctx.app.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  });

  test('renders every operation and expands one, with no CSP violation and nothing from elsewhere', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(20_000);
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    // Chromium reports each blocked script, style or image as a securitypolicyviolation event.
    await page.addInitScript(() => {
      (window as any).violations = [];
      document.addEventListener('securitypolicyviolation', (e) => (window as any).violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`));
    });

    const response = await page.goto(`${base}/docs`);
    assert.match(String(response?.headers()['content-security-policy']), /frame-ancestors 'none'/);
    await page.locator('.swagger-ui .info .title', { hasText: 'latchkey' }).waitFor();
    const operations = page.locator('.opblock');
    await operations.first().waitFor();
    assert.ok((await operations.count()) >= 19, 'every operation of the contract is listed');
    await page.locator('.opblock-summary', { hasText: '/api/auth/register' }).first().click();
    await page.locator('.opblock-body').first().waitFor();
    await page.waitForLoadState('networkidle');

    assert.deepEqual(await page.evaluate(() => (window as any).violations), [], 'no CSP violation');
    assert.deepEqual(problems, [], 'no error in the console');
    assert.deepEqual(requests.filter((url) => !url.startsWith(`${base}/`)), [], 'nothing asked of another host');
    await page.close();
  });
});
