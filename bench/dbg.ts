import { seededBenchDatabase } from '/work/main/bench/lib/postgres.js';
import { launcher } from '/work/main/bench/lib/launch.js';
import { startPrivateRedis } from '/work/main/bench/lib/redis-server.js';
import { runWrk } from '/work/main/bench/lib/wrk.js';
import { writeFileSync, mkdirSync } from 'node:fs';
const { database, tokens } = await seededBenchDatabase(300000, 2, 4);
const redis = await startPrivateRedis();
const dir = process.argv[2]!; mkdirSync(dir, { recursive: true });
writeFileSync('/tmp/tokens.txt', tokens.map((t) => t.plainText).join('\n') + '\n');
const launch = launcher({ databaseUrl: database.url, redisUrl: redis.url, bcryptRounds: 4, nodeOptions: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
try {
  const s = await launch.latchkey('p', { CACHE_TTL: '3600' });
  const r = await runWrk({ url: s.url('/api/auth/me'), tokensFile: '/tmp/tokens.txt', connections: 64, threads: 2, seconds: 30, random: true });
  const m = await (await fetch(s.url('/metrics'))).text();
  console.log(s.pid, r.rps.toFixed(0), r.requests, m.split('\n').filter((l) => l.startsWith('latchkey_cache_lookups')).join(' '));
} finally { await launch.stopAll(); await redis.stop(); await database.drop(); }
