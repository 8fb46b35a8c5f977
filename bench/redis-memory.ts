// Scale figures: Redis memory per cached token and per cached session, measured with INFO
// memory on a private redis-server after writing `count` entries in exactly the form latchkey
// writes them (encodeEntry, key `{CACHE_PREFIX}t:{sha256}` / `s:{sha256}`, SET … PX as the fill
// script does). Run alone with `npx tsx bench/redis-memory.ts [count]`; `npm run bench` runs it too.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { cacheEntry, encodeEntry, TOMBSTONE, type CacheEntry } from '../src/cache/entry.js';
import { info, startPrivateRedis } from './lib/redis-server.js';

const PREFIX = 'latchkey:';
const BATCH = 10_000;
/** Any expiry costs the same per key; long enough that nothing expires while we measure. */
const TTL_MS = 3_600_000;
const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

export interface MemoryFigures {
  count: number;
  redisVersion: string;
  allocator: string;
  kinds: { kind: string; bytesPerEntry: number; valueBytes: number; keyBytes: number }[];
}

function hex64(): string {
  return randomBytes(32).toString('hex');
}

/** A token entry as latchkey caches it: a typical user and a login token with an expiry. */
function tokenEntry(i: number, now: number): CacheEntry {
  const userId = 1_000_000 + i;
  return cacheEntry(
    {
      token: { id: 5_000_000 + i, userId, name: 'auth_token', abilities: ['*'], createdAt: now - 86_400_000, lastUsedAt: now - 60_000, expiresAt: now + 29 * 86_400_000 },
      user: { id: userId, name: `Firstname Lastname${i % 1000}`, email: `firstname.lastname${i}@example.com`, createdAt: now - 400 * 86_400_000, emailVerifiedAt: now - 399 * 86_400_000 },
    },
    now,
    3,
  );
}

/** A cookie session entry: the same user plus the login's IP and a common browser user agent. */
function sessionEntry(i: number, now: number): CacheEntry {
  const userId = 1_000_000 + i;
  return cacheEntry(
    {
      session: { id: 7_000_000 + i, userId, ip: `203.0.${(i >> 8) & 255}.${i & 255}`, userAgent: CHROME_UA, createdAt: now - 3_600_000, lastActiveAt: now - 60_000 },
      user: { id: userId, name: `Firstname Lastname${i % 1000}`, email: `firstname.lastname${i}@example.com`, createdAt: now - 400 * 86_400_000, emailVerifiedAt: now - 399 * 86_400_000 },
    },
    now,
    3,
  );
}

export async function measureRedisMemory(count: number): Promise<MemoryFigures> {
  const redis = await startPrivateRedis();
  try {
    const server = await info(redis.client, 'server');
    const kinds: MemoryFigures['kinds'] = [];
    const now = Date.now();
    const measure = async (kind: string, keyPrefix: string, value: (i: number) => string) => {
      await redis.client.flushall('SYNC');
      const before = Number((await info(redis.client, 'memory')).used_memory);
      let sample = '';
      for (let start = 0; start < count; start += BATCH) {
        const pipeline = redis.client.pipeline();
        for (let i = start; i < Math.min(count, start + BATCH); i++) {
          sample = value(i);
          pipeline.set(`${PREFIX}${keyPrefix}${hex64()}`, sample, 'PX', TTL_MS);
        }
        await pipeline.exec();
      }
      const after = Number((await info(redis.client, 'memory')).used_memory);
      const keys = await redis.client.dbsize();
      if (keys !== count) throw new Error(`expected ${count} keys, Redis holds ${keys}`);
      kinds.push({ kind, bytesPerEntry: (after - before) / count, valueBytes: Buffer.byteLength(sample), keyBytes: `${PREFIX}${keyPrefix}`.length + 64 });
    };
    await measure('token', 't:', (i) => encodeEntry(tokenEntry(i, now)));
    await measure('session', 's:', (i) => encodeEntry(sessionEntry(i, now)));
    await measure('tombstone (revoked credential)', 't:', () => TOMBSTONE);
    return { count, redisVersion: server.redis_version ?? 'unknown', allocator: (await info(redis.client, 'memory')).mem_allocator ?? 'unknown', kinds };
  } finally {
    await redis.stop();
  }
}

export function memoryTable(figures: MemoryFigures): string {
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const gib = (bytes: number) => `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GiB`;
  const lines = [
    `Redis ${figures.redisVersion} (${figures.allocator}), ${figures.count.toLocaleString('en-US')} entries of each kind written in latchkey's format, \`used_memory\` delta from \`INFO memory\`:`,
    '',
    '| entry | key bytes | value bytes | Redis memory per entry | 1M entries (1M keys) | 10M entries (10M keys, projected) |',
    '|---|---:|---:|---:|---:|---:|',
    ...figures.kinds.map(
      (k) => `| ${k.kind} | ${k.keyBytes} | ${k.valueBytes} | ${k.bytesPerEntry.toFixed(0)} B | ${mib(k.bytesPerEntry * 1e6)} | ${gib(k.bytesPerEntry * 1e7)} |`,
    ),
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const count = Number(process.argv[2] ?? 1_000_000);
  console.log(memoryTable(await measureRedisMemory(count)));
}
