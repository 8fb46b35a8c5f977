// The account page end to end in Debian's Chromium (playwright-core drives /usr/bin/chromium):
// sign-up, sign-out and sign-in, a second device, a token created (shown once, copied) and
// revoked, a CSRF-less request refused, a password change that ends the other device's session,
// and sign-out. Chromium missing is a failure, not a skip (npm test's preflight installs it as root).
//
// UPDATE_SCREENSHOT=1 also writes docs/account-page.png (the README shows it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { useStack } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';

const SCREENSHOT = new URL('../../docs/account-page.png', import.meta.url);
/** Two devices, told apart in the device list by their user agents. */
const LAPTOP_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('the account page in Chromium', () => {
  let base: string;
  let browser: Browser;
  let laptop: BrowserContext;
  let phone: BrowserContext;
  let page: Page; // the laptop's tab
  let phonePage: Page;
  // Registered before useStack() so that Chromium is closed before the server it talks to.
  after(async () => browser?.close());
  // Logins do not revoke here, so the laptop and the phone are signed in side by side.
  const ctx = useStack({ db: 'sqlite', cache: 'redis' }, { LOGIN_REVOKES_OTHER_TOKENS: 'false' });
  const account = { name: 'Ada Lovelace', email: 'ada@example.com', password: 'analytical-engine' };
  /** Everything the pages asked for and every error they logged: all must stay on our origin and clean. */
  const requests: string[] = [];
  const problems: string[] = [];

  const watch = (p: Page) => {
    p.on('request', (request) => requests.push(request.url()));
    p.on('console', (message) => message.type() === 'error' && !/401|403|404/.test(message.text()) && problems.push(message.text()));
    p.on('pageerror', (error) => problems.push(error.message));
    p.on('dialog', (dialog) => void dialog.accept()); // the confirm() before revoking
  };
  const sessionCookie = async (context: BrowserContext) => (await context.cookies()).find((c) => c.name === 'latchkey_session');
  const status = async (cookie: string) =>
    (await ctx.app.request('GET', '/api/auth/me', { cookies: { latchkey_session: cookie } })).status;

  before(async () => {
    base = await ctx.app.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
    laptop = await browser.newContext({ userAgent: LAPTOP_UA, viewport: { width: 1200, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
    phone = await browser.newContext({ userAgent: PHONE_UA });
    for (const context of [laptop, phone]) context.setDefaultTimeout(10_000); // fail fast, well within the file's budget
    page = await laptop.newPage();
    phonePage = await phone.newPage();
    watch(page);
    watch(phonePage);
  });

  test('sign-up creates the account and signs this browser in with an HttpOnly session cookie', async () => {
    await page.goto(`${base}/account`);
    await page.locator('#signed-out').waitFor();
    await page.click('#tab-sign-up');
    const form = page.locator('#sign-up-form');
    await form.locator('input[name=name]').fill(account.name);
    await form.locator('input[name=email]').fill(account.email);
    await form.locator('input[name=password]').fill(account.password);
    await form.locator('button[type=submit]').click();

    await page.locator('#signed-in').waitFor();
    assert.equal(await page.textContent('#who-email'), account.email);
    assert.equal(await page.textContent('#greeting'), 'Hello, Ada Lovelace');
    const cookie = (await sessionCookie(laptop))!;
    assert.ok(cookie.httpOnly && cookie.sameSite === 'Lax' && cookie.path === '/');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('latchkey_session'), 'scripts cannot read the session cookie');
    assert.ok((await page.evaluate(() => document.cookie)).includes('XSRF-TOKEN='), 'scripts can read XSRF-TOKEN');
    // The token that register returns was revoked by the page: it keeps no bearer token.
    assert.equal(await page.locator('#tokens tr[data-token-id]').count(), 0);
    assert.deepEqual(await page.locator('#sessions tr .badge').allTextContents(), ['This device']);
  });

  test('sign-out, a wrong password, then sign-in', async () => {
    const before = (await sessionCookie(laptop))!.value;
    await page.click('#sign-out');
    await page.locator('#signed-out').waitFor();
    assert.match((await page.textContent('#notice'))!, /signed out/);
    assert.equal(await sessionCookie(laptop), undefined);
    assert.equal(await status(before), 401);

    const form = page.locator('#sign-in-form');
    await form.locator('input[name=email]').fill(account.email);
    await form.locator('input[name=password]').fill('not the password');
    await form.locator('button[type=submit]').click();
    await page.locator('#sign-in-form .form-error', { hasText: 'incorrect' }).waitFor();

    await form.locator('input[name=password]').fill(account.password);
    await form.locator('button[type=submit]').click();
    await page.locator('#signed-in').waitFor();
    assert.notEqual((await sessionCookie(laptop))!.value, before);
  });

  test('a second device signs in and shows up in the device list', async () => {
    await phonePage.goto(`${base}/account`);
    const form = phonePage.locator('#sign-in-form');
    await form.locator('input[name=email]').fill(account.email);
    await form.locator('input[name=password]').fill(account.password);
    await form.locator('button[type=submit]').click();
    await phonePage.locator('#signed-in').waitFor();

    await page.click('#refresh');
    await page.locator('#sessions tr[data-session-id]').nth(1).waitFor();
    const devices = await page.locator('#sessions .device').allTextContents();
    assert.deepEqual(devices, ['Chrome on Linux', 'Safari on iOS']);
  });

  test('a personal access token is shown once, copied, works as a bearer token, and is revoked', async () => {
    const form = page.locator('#token-form');
    await form.locator('input[name=name]').fill('deploy-bot');
    await form.locator('select[name=expires_in_minutes]').selectOption('43200');
    await form.locator('button[type=submit]').click();
    await page.locator('#new-token').waitFor();
    const token = await page.inputValue('#new-token-value');
    assert.match(token, /^\d+\|lk_[A-Za-z0-9]{48}$/);
    await page.click('#copy-token');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 200);

    await form.locator('input[name=name]').fill('ci');
    await form.locator('input[name=abilities]').fill('orders:read, orders:write');
    await form.locator('button[type=submit]').click();
    await page.locator('#tokens tr[data-token-id]').nth(1).waitFor();
    assert.deepEqual(await page.locator('#tokens .token-name').allTextContents(), ['deploy-bot', 'ci']);
    assert.notEqual(await page.inputValue('#new-token-value'), token, 'each token is shown once, in place of the last');

    if (process.env.UPDATE_SCREENSHOT === '1') {
      await ctx.app.request('GET', '/api/auth/me', { token }); // so "last used" shows a use
      await page.click('#refresh');
      await page.locator('#tokens tr[data-token-id]').nth(1).waitFor();
      await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
    }

    await page.locator('#tokens tr', { hasText: 'deploy-bot' }).getByRole('button', { name: 'Revoke' }).click();
    await page.locator('#tokens tr', { hasText: 'deploy-bot' }).waitFor({ state: 'detached' });
    assert.equal((await ctx.app.request('GET', '/api/auth/me', { token })).status, 401);
  });

  test('a state change without the X-XSRF-TOKEN header is refused with 403 csrf_mismatch', async () => {
    const attempt = (withHeader: boolean) =>
      page.evaluate(async (withHeader) => {
        const xsrf = decodeURIComponent(document.cookie.split('; ').find((c) => c.startsWith('XSRF-TOKEN='))!.slice('XSRF-TOKEN='.length));
        const response = await fetch('api/auth/tokens', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(withHeader ? { 'X-XSRF-TOKEN': xsrf } : {}) },
          body: JSON.stringify({ name: 'from the console' }),
        });
        return { status: response.status, body: await response.json() };
      }, withHeader);
    const refused = await attempt(false);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'csrf_mismatch');
    assert.equal((await attempt(true)).status, 201, 'the same request with the header goes through');
  });

  test("a password change keeps this browser signed in and ends the other device's session", async () => {
    const before = (await sessionCookie(laptop))!.value;
    const form = page.locator('#password-form');
    await form.locator('input[name=current_password]').fill(account.password);
    await form.locator('input[name=password]').fill('difference-engine');
    await form.locator('input[name=confirmation]').fill('difference-engine');
    await form.locator('button[type=submit]').click();
    await page.locator('#notice', { hasText: 'Password changed' }).waitFor();
    assert.ok(await page.locator('#signed-in').isVisible());
    const after = (await sessionCookie(laptop))!.value;
    assert.notEqual(after, before, 'a fresh session id');
    assert.equal(await status(before), 401);
    assert.equal(await status(after), 200);
    assert.equal(await page.locator('#tokens tr[data-token-id]').count(), 0, 'every token was revoked, the one the change returned too');
    assert.equal(await page.locator('#sessions tr[data-session-id]').count(), 1);

    await phonePage.click('#refresh');
    await phonePage.locator('#signed-out').waitFor();
    assert.match((await phonePage.textContent('#notice'))!, /session has ended/);
  });

  test('sign-out ends the session', async () => {
    const cookie = (await sessionCookie(laptop))!.value;
    await page.click('#sign-out');
    await page.locator('#signed-out').waitFor();
    assert.equal(await status(cookie), 401);
    await page.reload();
    await page.locator('#signed-out').waitFor();
  });

  test('the pages loaded nothing from elsewhere and logged no errors', () => {
    const foreign = requests.filter((url) => !url.startsWith(`${base}/`));
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
  });
});
