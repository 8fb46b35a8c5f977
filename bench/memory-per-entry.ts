// In-process memory per cached credential: a latchkey instance in this process (PostgreSQL and
// Redis as configured) validates `count` tokens, which fills its in-process tier; the heap and
// RSS after a full GC, before and after, divided by the entries added. Run by the million stage of
// `npm run bench`; alone: node --expose-gc --import tsx bench/memory-per-entry.ts <tokens file> <count>
// with DATABASE_URL and REDIS_URL set. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { parseConfig } from '../src/config.js';
import { openLatchkey } from '../src/latchkey.js';
import { createLogger } from '../src/observability/logger.js';

const [file, countArg] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!file || !gc) {
  console.error('usage: node --expose-gc --import tsx bench/memory-per-entry.ts <tokens file> <count>');
  process.exit(2);
}
const CONCURRENCY = 64;
const tokens = readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(0, Number(countArg ?? 100_000));
const config = parseConfig({ ...process.env, CACHE_PREFIX: 'bench_memory_per_entry:', LOG_LEVEL: 'warn', PRUNE_SCHEDULE: 'off' });
const latchkey = await openLatchkey(config, { logger: createLogger('warn'), migrate: false, processMetrics: false });
const settled = () => {
  gc();
  gc();
  return process.memoryUsage();
};
try {
  // One validation first, so that what every entry shares (prepared statements, JIT) is in "before".
  await latchkey.credentials.validateToken(tokens[0]!);
  const before = settled();
  for (let i = 1; i < tokens.length; i += CONCURRENCY) {
    await Promise.all(tokens.slice(i, i + CONCURRENCY).map((t) => latchkey.credentials.validateToken(t)));
  }
  const after = settled();
  const entries = tokens.length - 1;
  console.log(JSON.stringify({ entries, heapBytesPerEntry: (after.heapUsed - before.heapUsed) / entries, rssBytesPerEntry: (after.rss - before.rss) / entries }));
} finally {
  await latchkey.close();
}
