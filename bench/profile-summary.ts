// Summarises a V8 .cpuprofile (from `npm run bench -- --stage saturation --profile`, BENCH_PROFILE=1
// npm run bench, or node --cpu-prof): self time by function and by package/file, to see what the hot
// path still spends its time on; with the number of requests the process served, in µs per request.
// Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top N] [requests]
import { profileLines, summarizeProfile } from './lib/profile.js';

const [file, topArg, requestsArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.ts <file.cpuprofile> [top N] [requests]');
  process.exit(2);
}
const top = Number(topArg ?? 40);
const requests = requestsArg === undefined ? undefined : Number(requestsArg);
const summary = summarizeProfile(file);
console.log(`total sampled: ${(summary.totalMs / 1000).toFixed(1)} s${requests ? `, ${requests} requests` : ''}`);
console.log('\nself time by package / file');
for (const line of profileLines(summary, summary.places, top, requests)) console.log(line);
console.log('\nself time by function');
for (const line of profileLines(summary, summary.functions, top, requests)) console.log(line);
