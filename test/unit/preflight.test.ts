// The decisions of `npm test`'s preflight (test/setup/requirements.mjs): which tools are missing,
// whether it may install and start things itself, and the one line it stops with when it cannot.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SERVICES, TOOLS, abilities, addressOf, cannotProvideMessage, isDefaultAddress, missingTools } from '../setup/requirements.mjs';

const tool = (debianPackage: string) => {
  const found = TOOLS.find((t) => t.debianPackage === debianPackage);
  assert.ok(found, `${debianPackage} is in TOOLS`);
  return found;
};
const service = (name: string) => {
  const found = SERVICES.find((s) => s.name === name);
  assert.ok(found, `${name} is in SERVICES`);
  return found;
};

describe('the tools the suite needs', () => {
  test('are PHP, Debian\'s Chromium, redis-server and nginx, each with the Debian package that provides it', () => {
    assert.deepEqual(
      TOOLS.map((t) => [t.needs, t.debianPackage]),
      [
        ['php', 'php-cli'],
        ['/usr/bin/chromium', 'chromium'],
        ['redis-server', 'redis-server'],
        ['/usr/sbin/nginx', 'nginx-light'],
      ],
    );
  });

  test('missing ones are those the check does not find, in the list\'s order', () => {
    const present = new Set(['redis-server', '/usr/sbin/nginx']);
    assert.deepEqual(missingTools(TOOLS, (needs) => present.has(needs)).map((t) => t.debianPackage), ['php-cli', 'chromium']);
    assert.deepEqual(missingTools(TOOLS, () => true), []);
  });
});

describe('what the preflight may do itself', () => {
  test('as root with apt-get: install and start', () => {
    assert.deepEqual(abilities({ root: true, hasAptGet: true }), { canInstall: true, canStart: true, why: '' });
  });
  test('not root: neither, and the message says why', () => {
    assert.deepEqual(abilities({ root: false, hasAptGet: true }), { canInstall: false, canStart: false, why: 'npm test is not running as root' });
  });
  test('root without apt-get: start the servers, but not install', () => {
    assert.deepEqual(abilities({ root: true, hasAptGet: false }), { canInstall: false, canStart: true, why: 'there is no apt-get here' });
  });
});

describe('the servers', () => {
  test('are looked for where the tests connect, and started only at their default address', () => {
    const postgres = service('PostgreSQL');
    assert.deepEqual(addressOf(postgres), { host: '127.0.0.1', port: 5432 });
    assert.equal(isDefaultAddress(postgres), true);
    const moved = { ...postgres, url: 'postgres://app@db.internal/test' };
    assert.deepEqual(addressOf(moved), { host: 'db.internal', port: 5432 });
    assert.equal(isDefaultAddress(moved), false);
  });

  test('PostgreSQL starts with the first installed cluster version', () => {
    assert.deepEqual(service('PostgreSQL').start(['16', '15']), ['pg_ctlcluster', '--skip-systemctl-redirect', '15', 'main', 'start']);
  });
});

describe('when the preflight cannot provide it', () => {
  test('one line names the apt-get command with exactly the missing packages, and why it did not run it', () => {
    const message = cannotProvideMessage({ tools: [tool('php-cli'), tool('nginx-light')], services: [], why: 'npm test is not running as root', postgresVersions: [] });
    assert.equal(message.split('\n').length, 1);
    assert.match(message, /^npm test cannot run yet \(npm test is not running as root\): apt-get install php-cli nginx-light \(php for /);
    assert.doesNotMatch(message, /chromium|redis-server/);
  });

  test('a stopped server is named with the command that starts it', () => {
    const message = cannotProvideMessage({ tools: [], services: [service('Redis'), service('PostgreSQL')], why: 'npm test is not running as root', postgresVersions: ['15'] });
    assert.match(message, /start Redis on 127\.0\.0\.1:6379 \(redis-server --daemonize yes /);
    assert.match(message, /start PostgreSQL on 127\.0\.0\.1:5432 \(pg_ctlcluster --skip-systemctl-redirect 15 main start\)/);
    assert.doesNotMatch(message, /apt-get/);
  });
});
