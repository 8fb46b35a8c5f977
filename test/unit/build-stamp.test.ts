// `npm start` skips tsc only when dist/ is the build of the sources as they are
// (scripts/build-stamp.mjs): every way dist/ can fall behind or be changed counts as stale.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { forgetStamp, inputsHash, isUpToDate, writeStamp } from '../../scripts/build-stamp.mjs';

describe('the build stamp', () => {
  const root = mkdtempSync(join(tmpdir(), 'latchkey-build-stamp-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, content: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  /** A project as the build left it, stamped. */
  beforeEach(() => {
    rmSync(join(root, 'src'), { recursive: true, force: true });
    rmSync(join(root, 'dist'), { recursive: true, force: true });
    write('tsconfig.json', '{}');
    write('package-lock.json', '{}');
    write('src/main.ts', 'export const a = 1;\n');
    write('src/lib/util.ts', 'export const b = 2;\n');
    write('dist/main.js', 'export const a = 1;\n');
    writeStamp(root, inputsHash(root));
  });

  test('an untouched build is up to date', () => {
    assert.equal(isUpToDate(root, inputsHash(root)), true);
  });

  test('a source edit is stale even when the file keeps its old modification time', () => {
    write('src/lib/util.ts', 'export const b = 3;\n');
    utimesSync(join(root, 'src/lib/util.ts'), new Date('2020-01-01'), new Date('2020-01-01'));
    assert.equal(isUpToDate(root, inputsHash(root)), false);
  });

  test('a new source file, a changed tsconfig.json or lockfile is stale', () => {
    write('src/extra.ts', '');
    assert.equal(isUpToDate(root, inputsHash(root)), false);
    rmSync(join(root, 'src/extra.ts'));
    assert.equal(isUpToDate(root, inputsHash(root)), true);
    write('tsconfig.json', '{"compilerOptions":{}}');
    assert.equal(isUpToDate(root, inputsHash(root)), false);
    write('tsconfig.json', '{}');
    write('package-lock.json', '{"v":2}');
    assert.equal(isUpToDate(root, inputsHash(root)), false);
  });

  test('dist/ changed or removed after the build is stale', () => {
    write('dist/main.js', 'export const a = 0;\n');
    assert.equal(isUpToDate(root, inputsHash(root)), false);
    rmSync(join(root, 'dist'), { recursive: true });
    assert.equal(isUpToDate(root, inputsHash(root)), false);
  });

  test('no stamp (a build under way or cut short) is stale', () => {
    forgetStamp(root);
    assert.equal(isUpToDate(root, inputsHash(root)), false);
  });

  test('sources edited during the build are stale next time: the stamp keeps the inputs taken before it', () => {
    const before = inputsHash(root);
    write('src/main.ts', 'export const a = 5;\n'); // while tsc runs
    writeStamp(root, before);
    assert.equal(isUpToDate(root, inputsHash(root)), false);
  });
});
