// Account recovery and email verification end to end (docs/recovery.md): real mail through a
// real SMTP server, links followed from the parsed mail, Laravel interop proven with PHP, and
// the outbox across an SMTP outage and two instances; the outbox and the reset's one
// transaction on MariaDB too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { register, startStack, type TestApp, type TestStack } from '../helpers/app.js';
import { php } from '../helpers/php.js';
import { linkIn, TestSmtpServer } from '../helpers/smtp.js';
import { ResetLinkSpentError } from '../../src/core/errors.js';
import { toSqlTime } from '../../src/store/time.js';

const HOST = 'latchkey.test';
const APP_URL = `http://${HOST}`;
const RAW_KEY = 'a-raw-laravel-key-0123456789abcdef';
const B64_KEY = `base64:${Buffer.alloc(32, 7).toString('base64')}`;

/** The reset form's token and email, from a reset mail's link (the account page reads the same). */
function resetParams(link: string): { token: string; email: string } {
  const fragment = new URL(link).hash; // #reset?token=…&email=…
  const params = new URLSearchParams(fragment.slice(fragment.indexOf('?') + 1));
  return { token: params.get('token')!, email: params.get('email')! };
}

/** A verification link as the server's route sees it (the test's inject host). */
function routeOf(link: string): string {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

const PHP_SIGN = `$in = json_decode(stream_get_contents(STDIN), true);
$url = $in['base'] . '/api/auth/email/verify/' . $in['id'] . '/' . sha1($in['email']) . '?expires=' . $in['expires'];
echo $url . '&signature=' . hash_hmac('sha256', $url, $in['key']);`;

/** Laravel's hasCorrectSignature and signatureHasNotExpired over a full URL. */
const PHP_CHECK_SIGNATURE = `$in = json_decode(stream_get_contents(STDIN), true);
[$url, $query] = explode('?', $in['url'], 2);
$parts = array_filter(explode('&', $query), fn ($p) => explode('=', $p)[0] !== 'signature');
parse_str($query, $params);
$original = rtrim($url . '?' . implode('&', $parts), '?');
$good = hash_equals(hash_hmac('sha256', $original, $in['key']), (string) ($params['signature'] ?? ''));
$fresh = ! (isset($params['expires']) && time() > (int) $params['expires']);
echo $good && $fresh ? 'valid' : 'invalid';`;

const PHP_PASSWORD_VERIFY = `$in = json_decode(stream_get_contents(STDIN), true); echo password_verify($in['password'], $in['hash']) ? 'valid' : 'invalid';`;
/** Laravel's DatabaseTokenRepository::create: a 64-hex token, the row holding Hash::make of it. */
const PHP_BROKER_TOKEN = `$token = hash_hmac('sha256', bin2hex(random_bytes(20)), 'app-key');
echo json_encode(['token' => $token, 'hash' => password_hash($token, PASSWORD_BCRYPT)]);`;

describe('account recovery on PostgreSQL and Redis, with real SMTP', () => {
  let smtp: TestSmtpServer;
  let stack: TestStack;
  let app: TestApp;
  const request = (method: string, url: string, options: Parameters<TestApp['request']>[2] = {}) =>
    app.request(method, url, { ...options, headers: { host: HOST, ...options.headers } });

  before(async () => {
    smtp = await TestSmtpServer.start();
    stack = await startStack(
      { db: 'postgres', cache: 'redis' },
      { MAIL_URL: smtp.url, APP_URL, APP_KEY: RAW_KEY, LATCHKEY_MAIL_POLL_MS: '100', LATCHKEY_MAIL_RETRY_MS: '200', PASSWORD_RESET_THROTTLE: '60' },
    );
    app = stack.instance;
  });
  after(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  test('registration mails a signed link; following it sets email_verified_at, shown by /me', async () => {
    const { token, email } = await register(app, `verify.${Date.now()}@example.com`);
    assert.equal((await request('GET', '/api/auth/me', { token })).body.user.email_verified_at, null);
    const mail = await smtp.mailTo(email);
    assert.match(mail.subject ?? '', /verify/i);
    assert.ok(mail.html && String(mail.html).includes('href="http://latchkey.test/api/auth/email/verify/'), 'an HTML body with the link');
    const link = linkIn(mail);
    assert.equal(await php(PHP_CHECK_SIGNATURE, { url: link, key: RAW_KEY }), 'valid', "PHP's hash_hmac accepts latchkey's signature");

    const tampered = link.replace(/expires=(\d+)/, (_m, n: string) => `expires=${Number(n) + 1}`);
    assert.equal((await request('GET', routeOf(tampered))).body.error.code, 'invalid_signature');
    const followed = await request('GET', routeOf(link));
    assert.equal(followed.status, 204);
    const me = await request('GET', '/api/auth/me', { token });
    assert.match(me.body.user.email_verified_at, /^\d{4}-\d\d-\d\dT/);
    const html = await request('GET', routeOf(link), { headers: { accept: 'text/html' } });
    assert.equal(html.status, 303);
    assert.equal(html.headers.location, `${APP_URL}/account#verified`);
  });

  for (const key of [RAW_KEY, B64_KEY]) {
    test(`a link signed by PHP with APP_KEY ${key.startsWith('base64:') ? 'base64:…' : 'raw'} verifies; expired and foreign ones are 403`, async () => {
      const keyed = key === RAW_KEY ? app : await stack.another({ APP_KEY: key });
      const { user, email } = await register(keyed, `php.${Date.now()}.${key.length}@example.com`);
      const sign = (expires: number, signKey = key) => php(PHP_SIGN, { base: APP_URL, id: user.id, email, expires, key: signKey });
      const expired = await sign(Math.floor(Date.now() / 1000) - 10);
      const inject = (url: string) => keyed.request('GET', routeOf(url), { headers: { host: HOST } });
      assert.equal((await inject(expired)).status, 403);
      assert.equal((await inject(await sign(Math.floor(Date.now() / 1000) + 600, 'another-key-of-some-length'))).status, 403);
      const wrongEmail = (await sign(Math.floor(Date.now() / 1000) + 600)).replace(/verify\/(\d+)\/[0-9a-f]{40}/, `verify/$1/${'0'.repeat(40)}`);
      assert.equal((await inject(wrongEmail)).body.error.code, 'invalid_signature');
      assert.equal((await inject(await sign(Math.floor(Date.now() / 1000) + 600))).status, 204);
      const row = await keyed.latchkey.store.db.selectFrom('users').select('email_verified_at').where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.notEqual(row.email_verified_at, null);
    });
  }

  test('forgot-password: the mail links to the reset form; the reset sets the password, spends the link, revokes on both instances', async () => {
    const other = await stack.another();
    const { token, email, user } = await register(app, `reset.${Date.now()}@example.com`);
    const session = await other.request('POST', '/api/auth/login', { body: { email, password: 'correct horse' } });
    assert.equal(session.status, 200);
    // LOGIN_REVOKES_OTHER_TOKENS revoked `token`; take a fresh one to watch on the other instance.
    const watched = session.body.token as string;
    assert.equal((await other.request('GET', '/api/auth/me', { token: watched })).status, 200, 'cached on the other instance');
    void token;

    const asked = await request('POST', '/api/auth/forgot-password', { body: { email: email.toUpperCase() } });
    assert.deepEqual([asked.status, asked.body], [202, { status: 'sent' }]);
    const mail = await smtp.mailTo(email, 15_000, 1); // the first is the verification mail
    assert.match(mail.subject ?? '', /reset/i);
    const link = linkIn(mail);
    assert.ok(link.startsWith(`${APP_URL}/account#reset?`), link);
    const { token: resetToken, email: linkEmail } = resetParams(link);

    const row = await app.latchkey.store.db.selectFrom('password_reset_tokens').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    assert.equal(await php(PHP_PASSWORD_VERIFY, { password: resetToken, hash: row.token }), 'valid', "Laravel's Hash::check accepts latchkey's row");

    const weak = await request('POST', '/api/auth/reset-password', { body: { email: linkEmail, token: resetToken, password: 'short' } });
    assert.equal(weak.body.error.code, 'validation_failed');
    const done = await request('POST', '/api/auth/reset-password', { body: { email: linkEmail, token: resetToken, password: 'a new password' } });
    assert.deepEqual([done.status, done.body], [200, { status: 'reset' }]);
    assert.equal((await other.request('GET', '/api/auth/me', { token: watched })).status, 401, 'revoked on the other instance at once');
    assert.equal((await request('POST', '/api/auth/login', { body: { email, password: 'a new password' } })).status, 200);
    const again = await request('POST', '/api/auth/reset-password', { body: { email, token: resetToken, password: 'another password' } });
    assert.equal(again.body.error.code, 'invalid_reset_token', 'the link is spent');
    void user;
  });

  test("a reset row written as Laravel's broker writes it is accepted; expired and wrong tokens are not", async () => {
    const { email } = await register(app, `broker.${Date.now()}@example.com`);
    const made = JSON.parse(await php(PHP_BROKER_TOKEN)) as { token: string; hash: string };
    const db = app.latchkey.store.db;
    const write = (createdAt: number) =>
      db.transaction().execute(async (trx) => {
        await trx.deleteFrom('password_reset_tokens').where('email', '=', email).execute();
        await trx.insertInto('password_reset_tokens').values({ email, token: made.hash, created_at: toSqlTime(createdAt) }).execute();
      });
    const reset = (token: string) => request('POST', '/api/auth/reset-password', { body: { email, token, password: 'from laravel link' } });
    await write(Date.now() - 61 * 60_000);
    assert.equal((await reset(made.token)).body.error.code, 'invalid_reset_token', 'older than PASSWORD_RESET_EXPIRE');
    await write(Date.now());
    assert.equal((await reset('f'.repeat(64))).body.error.code, 'invalid_reset_token', 'wrong token');
    assert.equal((await reset('not-a-token')).body.error.code, 'invalid_reset_token', 'wrong shape');
    assert.equal((await reset(made.token)).status, 200);
  });

  test('forgot-password answers the same for known and unknown emails, doing the same hashing; one mail per throttle', async () => {
    const { email } = await register(app, `same.${Date.now()}@example.com`);
    const hasher = app.latchkey.hasher;
    const original = hasher.hash.bind(hasher);
    let hashes = 0;
    hasher.hash = (password: string) => {
      hashes++;
      return original(password);
    };
    try {
      const ask = async (address: string) => {
        hashes = 0;
        const reply = await request('POST', '/api/auth/forgot-password', { body: { email: address } });
        return { status: reply.status, body: reply.body, hashes };
      };
      const known = await ask(email);
      const unknown = await ask(`nobody.${Date.now()}@example.com`);
      assert.deepEqual(unknown, known);
      assert.equal(known.hashes, 1);
      const throttled = await ask(email);
      assert.deepEqual(throttled, known, 'throttled: the same answer');
    } finally {
      hasher.hash = original;
    }
    await smtp.mailTo(email, 15_000, 1);
    await app.latchkey.mailOutbox.drain();
    assert.equal(smtp.mailsTo(email).length, 2, 'verification + one reset mail, not two');
  });

  test('bad input: unknown fields, wrong types, floods get clear 4xx and no mail storm', async () => {
    const unknownField = await request('POST', '/api/auth/forgot-password', { body: { email: 'a@example.com', admin: true } });
    assert.deepEqual([unknownField.status, unknownField.body.error.fields], [422, { admin: 'is not allowed' }]);
    assert.equal((await request('POST', '/api/auth/forgot-password', { body: { email: 42 } })).status, 422);
    assert.equal((await request('POST', '/api/auth/forgot-password', { rawBody: '[1]', headers: { 'content-type': 'application/json' } })).status, 400);
    assert.equal((await request('POST', '/api/auth/reset-password', { body: { email: 'a@example.com', token: 'x', password: 'long enough', extra: 1 } })).status, 422);
    const { email } = await register(app, `flood.${Date.now()}@example.com`);
    const before = (await app.latchkey.store.db.selectFrom('latchkey_mail_outbox').select('id').execute()).length;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request('POST', '/api/auth/forgot-password', { body: { email } })).status);
    assert.deepEqual(statuses.slice(0, 5), [202, 202, 202, 202, 202]);
    assert.ok(statuses.slice(5).every((s) => s === 429), String(statuses));
    const rows = await app.latchkey.store.db.selectFrom('password_reset_tokens').selectAll().where('email', '=', email).execute();
    assert.equal(rows.length, 1);
    const queuedNow = (await app.latchkey.store.db.selectFrom('latchkey_mail_outbox').select('id').execute()).length;
    assert.ok(queuedNow - before <= 1, 'at most the one reset mail was queued');
  });

  test('with SMTP down the request answers 202 and the mail goes out once SMTP is back; metrics count it', async () => {
    const { email } = await register(app, `outage.${Date.now()}@example.com`);
    await smtp.mailTo(email);
    await smtp.stop();
    try {
      const asked = await request('POST', '/api/auth/forgot-password', { body: { email } });
      assert.equal(asked.status, 202);
      const deadline = Date.now() + 10_000;
      while (!(await app.app.inject({ method: 'GET', url: '/metrics' })).body.includes('latchkey_mails_total{outcome="retried"}')) {
        assert.ok(Date.now() < deadline, 'a failed attempt was counted as retried');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await smtp.resume();
    }
    const mail = await smtp.mailTo(email, 20_000, 1);
    assert.match(mail.subject ?? '', /reset/i);
    const metrics = (await app.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /latchkey_mails_total\{outcome="sent"\} \d+/);
  });

  test('two instances send each queued mail exactly once', async () => {
    const second = await stack.another();
    const emails = Array.from({ length: 12 }, (_, i) => `twice.${Date.now()}.${i}@example.com`);
    await Promise.all(emails.map((email, i) => register(i % 2 ? app : second, email)));
    for (const email of emails) await smtp.mailTo(email);
    await Promise.all([app.latchkey.mailOutbox.drain(), second.latchkey.mailOutbox.drain()]);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would have been sent by now
    for (const email of emails) assert.equal(smtp.mailsTo(email).length, 1, email);
  });

  test('the resend endpoint mails a new link unless verified, and is rate limited', async () => {
    const { token, email } = await register(app, `resend.${Date.now()}@example.com`);
    await smtp.mailTo(email);
    assert.equal((await request('POST', '/api/auth/email/verification-notification', { token })).status, 202);
    const second = await smtp.mailTo(email, 15_000, 1);
    assert.equal((await request('GET', routeOf(linkIn(second)))).status, 204);
    assert.equal((await request('POST', '/api/auth/email/verification-notification', { token })).status, 202, 'verified: nothing sent');
    assert.equal((await request('POST', '/api/auth/email/verification-notification', { token })).status, 202);
    assert.equal((await request('POST', '/api/auth/email/verification-notification', { token })).status, 429, 'three a minute');
    await app.latchkey.mailOutbox.drain();
    assert.equal(smtp.mailsTo(email).length, 2, 'no mail once verified');
    assert.equal((await request('POST', '/api/auth/email/verification-notification')).status, 401);
  });
});

describe('REQUIRE_VERIFIED_EMAIL', () => {
  let stack: TestStack;
  before(async () => {
    stack = await startStack({ db: 'sqlite', cache: 'memory' }, { REQUIRE_VERIFIED_EMAIL: 'true', APP_URL, LATCHKEY_MAIL_POLL_MS: '50' });
  });
  after(async () => stack?.close());

  test('/verify answers 403 email_unverified until the link is followed; login, /me and resend still work', async () => {
    const app = stack.instance;
    const { token, user, email } = await register(app, `gate.${Date.now()}@example.com`);
    const denied = await app.request('GET', '/api/auth/verify', { token });
    assert.deepEqual([denied.status, denied.body.error.code], [403, 'email_unverified']);
    assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200);
    assert.equal((await app.request('POST', '/api/auth/login', { body: { email, password: 'correct horse' } })).status, 200);
    const fresh = (await app.request('POST', '/api/auth/login', { body: { email, password: 'correct horse' } })).body.token as string;
    assert.equal((await app.request('POST', '/api/auth/email/verification-notification', { token: fresh })).status, 202);
    const link = await app.latchkey.verification.link(user);
    assert.equal((await app.request('GET', routeOf(link), { headers: { host: HOST } })).status, 204);
    // The cached credential still holds the user as unverified: the rule reads the database.
    assert.equal((await app.request('GET', '/api/auth/verify', { token: fresh })).status, 200);
  });
});

describe('account recovery on MariaDB and Redis: the outbox and the reset transaction', () => {
  let smtp: TestSmtpServer;
  let stack: TestStack;
  before(async () => {
    smtp = await TestSmtpServer.start();
    stack = await startStack({ db: 'mysql', cache: 'redis' }, { MAIL_URL: smtp.url, APP_URL, APP_KEY: RAW_KEY, LATCHKEY_MAIL_POLL_MS: '100' });
  });
  after(async () => {
    await stack?.close();
    await smtp?.stop();
  });

  test('mails are claimed, sent once and deleted across two instances; verify, forgot and reset work', async () => {
    const app = stack.instance;
    const other = await stack.another();
    const request = (method: string, url: string, options: Parameters<TestApp['request']>[2] = {}) =>
      app.request(method, url, { ...options, headers: { host: HOST, ...options.headers } });
    const emails = Array.from({ length: 6 }, (_, i) => `maria.${Date.now()}.${i}@example.com`);
    const registered = await Promise.all(emails.map((email, i) => register(i % 2 ? app : other, email)));
    const verifyMails = await Promise.all(emails.map((email) => smtp.mailTo(email)));
    await Promise.all([app.latchkey.mailOutbox.drain(), other.latchkey.mailOutbox.drain()]);
    for (const email of emails) assert.equal(smtp.mailsTo(email).length, 1, email);
    assert.equal(await app.latchkey.store.db.selectFrom('latchkey_mail_outbox').select('id').execute().then((rows) => rows.length), 0, 'sent rows are deleted');

    const { token, email } = registered[0]!;
    assert.equal((await request('GET', routeOf(linkIn(verifyMails[0]!)))).status, 204);
    assert.match((await request('GET', '/api/auth/me', { token })).body.user.email_verified_at, /^\d{4}-/);

    const watched = (await other.request('POST', '/api/auth/login', { body: { email, password: 'correct horse' } })).body.token as string;
    assert.equal((await other.request('GET', '/api/auth/me', { token: watched })).status, 200);
    assert.equal((await request('POST', '/api/auth/forgot-password', { body: { email } })).status, 202);
    const { token: resetToken } = resetParams(linkIn(await smtp.mailTo(email, 15_000, 1)));
    const done = await request('POST', '/api/auth/reset-password', { body: { email, token: resetToken, password: 'a mariadb password' } });
    assert.deepEqual([done.status, done.body], [200, { status: 'reset' }]);
    assert.equal((await other.request('GET', '/api/auth/me', { token: watched })).status, 401, 'revoked on the other instance');
    assert.equal((await app.latchkey.store.db.selectFrom('password_reset_tokens').select('email').where('email', '=', email).execute()).length, 0, 'the link is spent');
    assert.equal((await request('POST', '/api/auth/login', { body: { email, password: 'a mariadb password' } })).status, 200);
  });

  test('a reset whose link was spent meanwhile changes nothing: password and credentials stay as they were', async () => {
    const app = stack.instance;
    const { token, email, user } = await register(app, `spent.${Date.now()}@example.com`);
    const before = await app.latchkey.store.users.findById(user.id);
    await assert.rejects(
      app.latchkey.credentials.resetPassword(user.id, await app.latchkey.hasher.hash('never set'), { email, tokenHash: 'not the row it was' }),
      ResetLinkSpentError,
    );
    assert.equal((await app.latchkey.store.users.findById(user.id))!.passwordHash, before!.passwordHash, 'the password is unchanged');
    const rows = await app.latchkey.store.db.selectFrom('personal_access_tokens').select('id').where('tokenable_id', '=', user.id).execute();
    assert.equal(rows.length, 1, 'the token row is still there');
    assert.equal((await app.request('GET', '/api/auth/me', { token })).status, 200, 'the token is alive');
  });
});
