// @ts-check
// Whether dist/ is the build of the sources there now, for `npm start` (scripts/build-if-stale.mjs).
// A stamp written after each build records a SHA-256 of the build's inputs and of what it wrote.
// Contents, not modification times: `tsc --build` goes by times, and was seen here calling the
// build up to date after an edit that kept the file's old time. Hashing the outputs too means a
// build by other means (`npm run build`, a deleted or edited file in dist/) also counts as stale.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What tsc reads to write dist/: the sources, its configuration and the locked compiler version. */
export const INPUTS = ['src', 'tsconfig.json', 'package-lock.json'];
export const OUTPUT_DIR = 'dist';
export const STAMP = join(OUTPUT_DIR, '.build-stamp.json');

/**
 * SHA-256 over the paths and contents of these files and directories (recursively, in a fixed
 * order), relative to root; a missing one counts as missing.
 * @param {string} root
 * @param {readonly string[]} paths
 * @param {readonly string[]} [skip] relative paths left out
 */
export function contentHash(root, paths, skip = []) {
  const hash = createHash('sha256');
  /** @param {string} path */
  const visit = (path) => {
    if (skip.includes(path)) return;
    const full = join(root, path);
    let isDirectory;
    try {
      isDirectory = statSync(full).isDirectory();
    } catch {
      hash.update(`missing ${path}\0`);
      return;
    }
    if (isDirectory) {
      for (const name of readdirSync(full).sort()) visit(join(path, name));
      return;
    }
    const content = readFileSync(full);
    hash.update(`file ${path} ${content.length}\0`).update(content);
  };
  for (const path of paths) visit(path);
  return hash.digest('hex');
}

/** @param {string} root */
export const inputsHash = (root) => contentHash(root, INPUTS);

/** @param {string} root */
const outputsHash = (root) => contentHash(root, [OUTPUT_DIR], [STAMP]);

/**
 * @param {string} root
 * @param {string} inputs inputsHash(root), taken before the build
 */
export function isUpToDate(root, inputs) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(root, STAMP), 'utf8'));
  } catch {
    return false;
  }
  return stamp.inputs === inputs && stamp.outputs === outputsHash(root);
}

/** Before a build: a build cut short must not leave an old stamp beside new outputs. @param {string} root */
export function forgetStamp(root) {
  rmSync(join(root, STAMP), { force: true });
}

/**
 * After a build that succeeded, with the inputs hashed before it began (an edit during the
 * build then shows as stale next time).
 * @param {string} root
 * @param {string} inputs
 */
export function writeStamp(root, inputs) {
  writeFileSync(join(root, STAMP), `${JSON.stringify({ inputs, outputs: outputsHash(root) })}\n`);
}
