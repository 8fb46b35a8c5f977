// The configuration of account recovery and email verification (docs/recovery.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config.js';

describe('recovery configuration', () => {
  test('defaults: links to localhost:3000, mail to the log, 60 minutes, 60 seconds, no gate', () => {
    const { recovery } = parseConfig({});
    assert.equal(recovery.appUrl, 'http://localhost:3000');
    assert.equal(recovery.appKey, undefined);
    assert.equal(recovery.mail, undefined);
    assert.deepEqual(recovery.mailFrom, { address: 'latchkey@localhost', name: 'latchkey' });
    assert.equal(recovery.passwordResetExpireMinutes, 60);
    assert.equal(recovery.passwordResetThrottleSeconds, 60);
    assert.equal(recovery.requireVerifiedEmail, false);
  });

  test('every variable is read', () => {
    const { recovery } = parseConfig({
      APP_URL: 'https://auth.example.com/',
      APP_KEY: 'base64:' + Buffer.alloc(32, 1).toString('base64'),
      MAIL_URL: 'smtps://me%40x:p%2Fw@mail.example.com',
      MAIL_FROM_ADDRESS: 'auth@example.com',
      MAIL_FROM_NAME: 'Example',
      PASSWORD_RESET_EXPIRE: '30',
      PASSWORD_RESET_THROTTLE: '0',
      REQUIRE_VERIFIED_EMAIL: 'true',
    });
    assert.equal(recovery.appUrl, 'https://auth.example.com');
    assert.deepEqual(recovery.mail, { host: 'mail.example.com', port: 465, secure: true, user: 'me@x', password: 'p/w' });
    assert.deepEqual(recovery.mailFrom, { address: 'auth@example.com', name: 'Example' });
    assert.deepEqual([recovery.passwordResetExpireMinutes, recovery.passwordResetThrottleSeconds, recovery.requireVerifiedEmail], [30, 0, true]);
  });

  test("Laravel's MAIL_HOST family: ssl is TLS from the start, tls is STARTTLS, null passwords are none", () => {
    assert.deepEqual(parseConfig({ MAIL_HOST: 'smtp.x', MAIL_ENCRYPTION: 'ssl' }).recovery.mail, { host: 'smtp.x', port: 465, secure: true, user: undefined, password: undefined });
    assert.deepEqual(parseConfig({ MAIL_HOST: 'smtp.x', MAIL_PORT: '2525', MAIL_ENCRYPTION: 'tls', MAIL_USERNAME: 'u', MAIL_PASSWORD: 'null' }).recovery.mail, {
      host: 'smtp.x',
      port: 2525,
      secure: false,
      user: 'u',
      password: undefined,
    });
    assert.equal(parseConfig({ MAIL_URL: 'smtp://127.0.0.1:1025', MAIL_HOST: 'ignored' }).recovery.mail?.port, 1025);
  });

  test('bad values name the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ APP_URL: 'ftp://x' }, /^APP_URL: /],
      [{ APP_URL: 'not a url' }, /^APP_URL: /],
      [{ APP_KEY: 'base64:short' }, /^APP_KEY: /],
      [{ APP_KEY: 'short' }, /^APP_KEY: /],
      [{ MAIL_URL: 'http://x' }, /^MAIL_URL: /],
      [{ MAIL_HOST: 'x', MAIL_ENCRYPTION: 'maybe' }, /^MAIL_ENCRYPTION: /],
      [{ MAIL_FROM_ADDRESS: 'nobody' }, /^MAIL_FROM_ADDRESS: /],
      [{ MAIL_TEMPLATES_DIR: '/no/such/dir' }, /^MAIL_TEMPLATES_DIR: /],
      [{ PASSWORD_RESET_EXPIRE: '0' }, /^PASSWORD_RESET_EXPIRE: /],
      [{ PASSWORD_RESET_THROTTLE: '-1' }, /^PASSWORD_RESET_THROTTLE: /],
      [{ REQUIRE_VERIFIED_EMAIL: 'sometimes' }, /^REQUIRE_VERIFIED_EMAIL: /],
    ];
    for (const [env, message] of cases) assert.throws(() => parseConfig(env), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
  });
});
