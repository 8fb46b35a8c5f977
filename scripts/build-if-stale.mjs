// @ts-check
// `npm start` runs this first (package.json "prestart"): `npm run build` unless dist/ is already
// the build of the sources there now (./build-stamp.mjs), so a start after the first one does not
// spend ~10 s in tsc, and a stale build is never served.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { forgetStamp, inputsHash, isUpToDate, writeStamp } from './build-stamp.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const inputs = inputsHash(root);
if (isUpToDate(root, inputs)) {
  console.log('dist/ is the build of src/ as it is: not rebuilding');
} else {
  forgetStamp(root);
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  writeStamp(root, inputs);
}
