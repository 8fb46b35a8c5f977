// Summarises a V8 .cpuprofile (from BENCH_PROFILE=1 npm run bench, or node --cpu-prof): self
// time by function and by package/file, to see what the hot path still spends its time on.
// Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top N]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.ts <file.cpuprofile> [top N]');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfMs = new Map<number, number>();
profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
const total = [...selfMs.values()].reduce((a, b) => a + b, 0);

function where(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 13).split('/').slice(0, url.slice(nm + 13).startsWith('@') ? 2 : 1).join('/');
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  return src !== -1 ? url.slice(src + 1) : url;
}

const functions = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, ms] of selfMs) {
  const node = byId.get(id)!;
  const place = where(node.callFrame.url);
  const name = `${node.callFrame.functionName || '(anonymous)'} ${place}:${node.callFrame.lineNumber + 1}`;
  functions.set(name, (functions.get(name) ?? 0) + ms);
  places.set(place, (places.get(place) ?? 0) + ms);
}
const show = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, ms] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
};
console.log(`total sampled: ${(total / 1000).toFixed(1)} s`);
show('self time by package / file', places);
show('self time by function', functions);
