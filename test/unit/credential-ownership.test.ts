// One module owns credentials: outside src/core/credentials.ts (and the cache itself), no code
// may tell the cache tiers to forget a credential or invalidate them, nor delete credential
// rows itself. A forgotten `forget` after a delete is a security bug no type would catch, so
// the rule is checked on the source.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;
const OWNER = 'core/credentials.ts';
/** Calls that forget or invalidate cached credentials, or delete credential rows. */
const FORBIDDEN = /\.(forget|invalidateAll|clearCached|deleteAll)\(|\bcache\.clear\(|credentials\.delete\(|store\.delete\(/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.ts$/.test(entry.name) ? [path] : [];
  });
}

test('only the credentials module forgets, invalidates or deletes credentials', () => {
  const offenders: string[] = [];
  for (const file of sources(SRC)) {
    const name = relative(SRC, file);
    // The owner, and the cache and store that implement what it calls.
    if (name === OWNER || name.startsWith('cache/') || name.startsWith('store/')) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (FORBIDDEN.test(line)) offenders.push(`src/${name}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(offenders, [], 'these lines bypass src/core/credentials.ts');
});

test('the check sees the calls it forbids', () => {
  for (const line of ['await cache.forget(revoked);', 'await this.cache.invalidateAll();', 'latchkey.cache.clear()', 'store.credentials.delete({ user: 1 })']) {
    assert.match(line, FORBIDDEN);
  }
});
