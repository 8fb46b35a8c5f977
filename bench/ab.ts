// A/B comparison of latchkey builds, for optimising the hot path: a difference of a few per cent
// that `npm run bench` cannot resolve on a shared machine (its rounds are minutes apart, and the
// machine's speed drifts by tens of per cent over minutes) shows up here.
//
//   npx tsx bench/ab.ts before=/tmp/before after=. plain=.:plain
//
// Each argument is name=<checkout>[:<baseline mode>][+VAR=value...]: latchkey's CLI from that checkout (which
// needs its node_modules, e.g. a `git worktree` with a symlink to this one's), or with a mode
// one of the comparison servers of bench/servers/baseline.ts (plain, sanctum, bare, lookup, kept, byid, redis; not jwt, whose
// clients present JWTs rather than these tokens: npm run bench has it). All
// servers run at once on one seeded PostgreSQL database and one private Redis; then, for each
// endpoint, short wrk runs alternate between them (in reverse order every other time), and each
// server's figures are reported as medians, and as medians of its per-alternation ratios to the
// first server: neighbours in time see the same machine. Knobs (env): AB_ALTERNATIONS (12),
// AB_SECONDS (2), AB_ENDPOINTS (/api/auth/me,/api/auth/verify), AB_CACHE_TTL (86400), AB_TOKENS
// (10000; above that, each request's token is drawn at random, as in the million stage, so that
// most validations miss an in-process tier: e.g. AB_TOKENS=1000000 to compare tier policies;
// `+CACHE_PREFIX=ab:` on every latchkey lets the first one's warm-up fill Redis for the others).
// CACHE_TTL is a day by default: the comparison is of warm validations. AB_CACHE_TTL=60 (latchkey's
// default) also measures each token's refresh from the database once a minute (paid by requests
// in builds without refresh ahead, in the background since).
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { seededBenchDatabase } from './lib/postgres.js';
import { freePort, startProcess, waitUntilHealthy, type Started } from './lib/processes.js';
import { startPrivateRedis } from './lib/redis-server.js';
import { sideBySide, sideBySideTable } from './lib/side-by-side.js';
import { ensureWrk } from './lib/wrk.js';

const ALTERNATIONS = Number(process.env.AB_ALTERNATIONS ?? 12);
const SECONDS = Number(process.env.AB_SECONDS ?? 2);
const ENDPOINTS = (process.env.AB_ENDPOINTS ?? '/api/auth/me,/api/auth/verify').split(',');
const TOKENS = Number(process.env.AB_TOKENS ?? 10_000);
if (!Number.isInteger(TOKENS) || TOKENS < 1) throw new Error(`AB_TOKENS must be a positive integer, not "${process.env.AB_TOKENS}"`);
/** The rotating token set of npm run bench; above it, tokens are drawn at random. */
const ROTATING_TOKENS = 10_000;
const MODES = ['plain', 'sanctum', 'bare', 'lookup', 'kept', 'byid', 'redis'];

interface Contender {
  name: string;
  checkout: string;
  mode: string | undefined;
  /** Settings of this contender only (e.g. LOG_LEVEL=info), over the shared ones. */
  env: Record<string, string>;
}

interface Running extends Contender {
  server: Started;
  port: number;
}

function parseArguments(args: string[]): Contender[] {
  const contenders = args.map((arg) => {
    const match = /^([\w-]+)=([^:+]+)(?::(\w+))?((?:\+\w+=[^+]*)*)$/.exec(arg);
    if (!match || (match[3] !== undefined && !MODES.includes(match[3]))) {
      throw new Error(`"${arg}": expected name=<checkout>[:${MODES.join('|')}][+VAR=value...]`);
    }
    const env = Object.fromEntries(match[4]!.split('+').slice(1).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    return { name: match[1]!, checkout: resolve(match[2]!), mode: match[3], env };
  });
  if (contenders.length < 2) throw new Error('usage: npx tsx bench/ab.ts name=<checkout>[:mode] name=<checkout>[:mode] ...');
  return contenders;
}

async function main(): Promise<void> {
  const contenders = parseArguments(process.argv.slice(2));
  ensureWrk();
  const { database, tokens } = await seededBenchDatabase(TOKENS, 0, 4);
  const tokensFile = join(tmpdir(), `latchkey-ab-tokens-${process.pid}.txt`);
  writeFileSync(tokensFile, tokens.map((t) => t.plainText).join('\n') + '\n');
  const redis = await startPrivateRedis();
  const running: Running[] = [];
  try {
    for (const c of contenders) {
      const port = await freePort();
      const script = c.mode ? ['bench/servers/baseline.ts', c.mode] : ['src/cli/main.ts', 'serve', '--no-migrate'];
      const server = startProcess('node', ['--import', 'tsx', `${c.checkout}/${script[0]}`, ...script.slice(1)], {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        CACHE_PREFIX: `ab_${c.name}:`,
        REDIS_PREFIX: `ab_${c.name}:`,
        LOG_LEVEL: 'warn',
        CACHE_TTL: process.env.AB_CACHE_TTL ?? '86400',
        PRUNE_SCHEDULE: 'off',
        JWT_SECRET: 'ab-only-secret',
        ...c.env,
      });
      running.push({ ...c, server, port });
      await waitUntilHealthy(server, `http://127.0.0.1:${port}/healthz`);
    }
    for (const endpoint of ENDPOINTS) await compare(running, endpoint, tokensFile);
  } finally {
    for (const r of running) await r.server.stop();
    await redis.stop();
    await database.drop();
    rmSync(tokensFile, { force: true });
  }
}

async function compare(running: Running[], endpoint: string, tokensFile: string): Promise<void> {
  const contestants = running.map((r) => ({ name: r.name, port: r.port, pid: r.server.child.pid! }));
  const results = await sideBySide(contestants, { endpoint, tokensFile, tokens: TOKENS, alternations: ALTERNATIONS, seconds: SECONDS, random: TOKENS > ROTATING_TOKENS });
  console.log(`\n${endpoint}: ${ALTERNATIONS} alternations of ${SECONDS} s; ratios are medians of per-alternation ratios to ${running[0]!.name}`);
  console.log(sideBySideTable(results));
}

await main();
