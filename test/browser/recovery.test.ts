// The account page's recovery and verification flows end to end in Chromium, with the mails read
// from a real SMTP server: sign-up shows the email unverified, the resend button mails a new
// link, following it verifies; "Forgot password?" mails a link that opens the reset form, and the
// new password signs in. Chromium missing is a failure, not a skip (.ci/run installs it).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, type TestStack } from '../helpers/app.js';
import { freePort } from '../helpers/ports.js';
import { linkIn, TestSmtpServer } from '../helpers/smtp.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('account recovery and verification on the account page in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let smtp: TestSmtpServer;
  let stack: TestStack;
  let base: string;
  const problems: string[] = [];
  const account = { email: 'grace@example.com', password: 'compiler-1952', newPassword: 'cobol-1959!' };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
    smtp = await TestSmtpServer.start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({ db: 'sqlite', cache: 'memory' }, { MAIL_URL: smtp.url, APP_URL: base, LATCHKEY_MAIL_POLL_MS: '100' });
    await stack.instance.app.listen({ host: '127.0.0.1', port });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(error.message));
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
    await smtp?.stop();
  });

  test('sign-up shows the email unverified; the resend button mails a link that verifies it', async () => {
    await page.goto(`${base}/account`);
    await page.click('#tab-sign-up');
    const form = page.locator('#sign-up-form');
    await form.locator('input[name=email]').fill(account.email);
    await form.locator('input[name=password]').fill(account.password);
    await form.locator('button[type=submit]').click();
    await page.locator('#signed-in').waitFor();
    assert.match((await page.textContent('#verification-state')) ?? '', /not verified/);

    await smtp.mailTo(account.email); // the registration's mail
    await page.click('#resend-verification');
    await page.locator('#notice', { hasText: 'verification link' }).waitFor();
    const resent = await smtp.mailTo(account.email, 15_000, 1);
    await page.goto(linkIn(resent), { waitUntil: 'networkidle' });
    assert.equal(new URL(page.url()).pathname, '/account');
    await page.locator('#notice', { hasText: 'verified' }).waitFor();
    assert.match((await page.textContent('#verification-state')) ?? '', /is verified/);
    assert.equal(await page.isHidden('#resend-verification'), true);
  });

  test('"Forgot password?" mails a link to the reset form; the new password signs in', async () => {
    await page.click('#sign-out');
    await page.locator('#signed-out').waitFor();
    await page.click('#forgot-link');
    await page.locator('#forgot-form input[name=email]').fill(account.email);
    await page.locator('#forgot-form button[type=submit]').click();
    await page.locator('#notice', { hasText: 'on its way' }).waitFor();

    const mail = await smtp.mailTo(account.email, 15_000, 2);
    assert.match(mail.subject ?? '', /reset/i);
    await page.goto(linkIn(mail));
    await page.locator('#reset').waitFor();
    assert.match((await page.textContent('#reset-email')) ?? '', /grace@example.com/);
    await page.locator('#reset-form input[name=password]').fill(account.newPassword);
    await page.locator('#reset-form input[name=confirmation]').fill(account.newPassword);
    await page.locator('#reset-form button[type=submit]').click();
    await page.locator('#notice', { hasText: 'password is set' }).waitFor();

    const signIn = page.locator('#sign-in-form');
    await signIn.locator('input[name=email]').fill(account.email);
    await signIn.locator('input[name=password]').fill(account.newPassword);
    await signIn.locator('button[type=submit]').click();
    await page.locator('#signed-in').waitFor();
    assert.deepEqual(problems, []);
  });
});
