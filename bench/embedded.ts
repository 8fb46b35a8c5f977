// Stage of `npm run bench`, runnable alone (`npm run bench:embedded`): an app's route protected
// in-process by latchkey (the Fastify plugin), the same route protected by calling latchkey's
// /api/auth/verify over HTTP (keep-alive), the same route with no authentication, and the
// per-token floor (bench/servers/baseline.ts lookup on /api/auth/verify), all up at once and
// loaded in turn by short wrk runs over 10,000 rotating tokens (bench/lib/side-by-side.ts).
// Targets: in-process ≥ 0.9× the floor and ≥ 3× the /verify hop. CPU per request is the app
// process's only (the hop's latchkey server works too, on the same two cores).
// Knobs (env): BENCH_EMBEDDED_ALTERNATIONS (10), BENCH_EMBEDDED_SECONDS (2).
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seededBenchDatabase } from './lib/postgres.js';
import { freePort, startProcess, waitUntilHealthy, type Started } from './lib/processes.js';
import { startPrivateRedis } from './lib/redis-server.js';
import { sideBySide, sideBySideTable, type Contestant, type SideBySideResult } from './lib/side-by-side.js';
import { ensureWrk, warmUp } from './lib/wrk.js';

const ALTERNATIONS = Number(process.env.BENCH_EMBEDDED_ALTERNATIONS ?? 10);
const SECONDS = Number(process.env.BENCH_EMBEDDED_SECONDS ?? 2);
const TOKENS = 10_000;

export interface EmbeddedStage {
  results: SideBySideResult[];
  /** in-process ÷ floor, in-process ÷ /verify hop (medians of per-alternation ratios). */
  ofFloor: number;
  ofHop: number;
  markdown: string;
}

export async function embeddedStage(): Promise<EmbeddedStage> {
  ensureWrk();
  const { database, tokens } = await seededBenchDatabase(TOKENS, 0, 4);
  const tokensFile = join(tmpdir(), `latchkey-bench-embedded-${process.pid}.txt`);
  writeFileSync(tokensFile, tokens.map((t) => t.plainText).join('\n') + '\n');
  const redis = await startPrivateRedis();
  const started: Started[] = [];
  const env = { HOST: '127.0.0.1', DATABASE_URL: database.url, REDIS_URL: redis.url, LOG_LEVEL: 'warn', CACHE_TTL: '86400', PRUNE_SCHEDULE: 'off' };
  const start = async (name: string, script: string[], extra: Record<string, string>, endpoint: string): Promise<Contestant> => {
    const port = await freePort();
    const server = startProcess('node', ['--import', 'tsx', ...script], { ...env, ...extra, PORT: String(port), CACHE_PREFIX: `bench_${started.length}:` });
    started.push(server);
    // Generous: tsx compiles each server at start, on a machine shared with other work.
    await waitUntilHealthy(server, `http://127.0.0.1:${port}/healthz`, 120_000);
    return { name, port, pid: server.child.pid!, endpoint };
  };
  try {
    const latchkeyServer = await start('latchkey server', ['src/cli/main.ts', 'serve', '--no-migrate'], {}, '/api/auth/verify');
    const contestants = [
      await start('app route, no auth', ['bench/servers/app.ts', 'none'], {}, '/orders'),
      await start('`lookup` floor (/api/auth/verify)', ['bench/servers/baseline.ts', 'lookup'], {}, '/api/auth/verify'),
      await start('app route, latchkey in-process', ['bench/servers/app.ts', 'embedded'], {}, '/orders'),
      await start('app route, /verify over HTTP', ['bench/servers/app.ts', 'verify'], { LATCHKEY_URL: `http://127.0.0.1:${latchkeyServer.port}` }, '/orders'),
    ];
    // A first read of each token costs a Redis miss, a SELECT and a Redis fill (and for the hop a
    // second HTTP exchange): far slower than a warm one, so the usual warm-up (at most five 3 s
    // runs) may not reach every token. Longer runs first, until each token was presented.
    for (const c of contestants.slice(2)) await warmUp({ url: `http://127.0.0.1:${c.port}${c.endpoint}`, tokensFile, connections: 64, threads: 2 }, TOKENS, c.name, 20);
    const results = await sideBySide(contestants, { endpoint: '/orders', tokensFile, tokens: TOKENS, alternations: ALTERNATIONS, seconds: SECONDS });
    const [, floor, embedded, hop] = results as [SideBySideResult, SideBySideResult, SideBySideResult, SideBySideResult];
    const ofFloor = embedded.rpsRatio / floor.rpsRatio;
    const ofHop = embedded.rpsRatio / hop.rpsRatio;
    const markdown = [
      `Embedded (${ALTERNATIONS} alternations of ${SECONDS} s; ratios are medians of per-alternation ratios to the first row):`,
      '',
      sideBySideTable(results),
      '',
      `in-process ÷ floor: ${ofFloor.toFixed(3)} (target ≥ 0.9) ${ofFloor >= 0.9 ? 'met' : 'NOT met'}; in-process ÷ /verify hop: ${ofHop.toFixed(2)} (target ≥ 3) ${ofHop >= 3 ? 'met' : 'NOT met'}`,
    ].join('\n');
    return { results, ofFloor, ofHop, markdown };
  } finally {
    for (const server of started) await server.stop();
    await redis.stop();
    await database.drop();
    rmSync(tokensFile, { force: true });
  }
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) console.log((await embeddedStage()).markdown);
