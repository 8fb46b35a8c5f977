// In-process microbenchmark of the validation core, for optimising it without sockets and with
// less of the noise of a shared machine: CPU time per warm validation and per step of it.
// (Fastify's inject is no guide here: it costs more than a real request.)
// Usage: npx tsx bench/hot-path.ts   (SQLite in a temp dir, in-process cache tier only)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import { tokenReader } from '../src/core/token-format.js';
import { openLatchkey } from '../src/latchkey.js';
import { createLogger } from '../src/observability/logger.js';

const TOKENS = 1000;
const ROUNDS = 100_000;

async function timePerCall(label: string, call: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < ROUNDS / 10; i++) await call(i); // warm the JIT
  const started = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await call(i);
  const used = process.cpuUsage(started);
  console.log(`${label.padEnd(44)} ${((used.user + used.system) / ROUNDS).toFixed(2).padStart(7)} µs CPU / call`);
}

const dir = mkdtempSync(join(tmpdir(), 'latchkey-hot-path-'));
const config = parseConfig({ DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, BCRYPT_ROUNDS: '4', LOG_LEVEL: 'warn', PRUNE_SCHEDULE: 'off' });
const latchkey = await openLatchkey(config, { logger: createLogger('warn'), migrate: true, processMetrics: true });
try {
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    tokens.push((await latchkey.accounts.register({ email: `hot${i}@bench.test`, password: 'password123' })).plainText);
  }
  const reader = tokenReader(config.tokenPrefix);
  const hashes = tokens.map((t) => reader.parse(t)!.hash);
  await timePerCall('validateToken (warm, in-process tier)', (i) => latchkey.credentials.validateToken(tokens[i % TOKENS]!));
  await timePerCall('  tokenReader.parse (shape + SHA-256)', (i) => reader.parse(tokens[i % TOKENS]!));
  await timePerCall('  tokenReader.checksumValid (CRC32, on a miss)', (i) => reader.checksumValid(tokens[i % TOKENS]!));
  await timePerCall('  cache.cached (in-process hit)', (i) => latchkey.cache.cached('t', hashes[i % TOKENS]!));
} finally {
  await latchkey.close();
  rmSync(dir, { recursive: true, force: true });
}
