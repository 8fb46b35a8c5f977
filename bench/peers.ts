// The peers stage of `npm run bench` (`--stage peers`): latchkey's /api/auth/me and /verify side by
// side with bare peers, each a bare Fastify 5 server (no logger, no hooks) from
// bench/servers/baseline.ts, plus the Sanctum path (c) and latchkey's own setup without
// authentication (a) as extra rows. All are up at once and loaded in turn by short wrk runs that
// alternate (bench/lib/side-by-side.ts); each ratio is the median of the per-alternation ratios.
import type { Launcher, Running } from './lib/launch.js';
import { pairedRatio, type SideBySideResult, sideBySide } from './lib/side-by-side.js';

interface Peer {
  name: string;
  start(launch: Launcher, latchkeySettings: NodeJS.ProcessEnv): Promise<Running>;
  /** latchkey's req/s ÷ this peer's must reach it (none for extra rows). */
  atLeast?: number;
  jwt?: boolean;
}

const LATCHKEY = 'latchkey';
const NO_AUTH = 'bare, no auth';
const PEERS: Peer[] = [
  { name: 'bare, per-token floor (SHA-256 + Map)', start: (l) => l.baseline('lookup', { bare: true }), atLeast: 0.95 },
  { name: NO_AUTH, start: (l) => l.baseline('plain', { bare: true }), atLeast: 0.85 },
  { name: 'bare, JWT (jose HS256)', start: (l) => l.baseline('jwt', { bare: true }), atLeast: 2, jwt: true },
  { name: 'bare, one Redis GET (seed design)', start: (l) => l.baseline('redis', { bare: true }), atLeast: 1.5 },
  { name: '(c) Sanctum path', start: (l) => l.baseline('sanctum'), atLeast: 10 },
  { name: '(a) latchkey setup, no auth', start: (l) => l.baseline('plain') },
  // The latchkey row runs at LOG_LEVEL=warn, as every server here: this one writes its access log.
  { name: 'latchkey at LOG_LEVEL=info (access log on)', start: (l, settings) => l.latchkey('peers-info', { ...settings, LOG_LEVEL: 'info' }) },
];
/** latchkey's p99 ÷ bare no-auth's must stay at or under it. */
const P99_AT_MOST = 1.5;
export const PEER_ENDPOINTS = ['/api/auth/me', '/api/auth/verify'] as const;

export interface PeersOptions {
  launch: Launcher;
  tokensFile: string;
  jwtFile: string;
  tokens: number;
  alternations: number;
  seconds: number;
  /** latchkey's CACHE_TTL (s); undefined: its default. */
  cacheTtl?: number;
}

export type PeersResult = Map<string, SideBySideResult[]>;

export async function runPeers(options: PeersOptions): Promise<PeersResult> {
  const settings = options.cacheTtl === undefined ? {} : { CACHE_TTL: String(options.cacheTtl) };
  const latchkey = await options.launch.latchkey('peers', settings);
  const contestants = [{ name: LATCHKEY, port: latchkey.port, pid: latchkey.pid }];
  for (const peer of PEERS) {
    const running = await peer.start(options.launch, settings);
    contestants.push({ name: peer.name, port: running.port, pid: running.pid, ...(peer.jwt ? { tokensFile: options.jwtFile } : {}) });
  }
  const results: PeersResult = new Map();
  for (const endpoint of PEER_ENDPOINTS) {
    const sideBySideResults = await sideBySide(contestants, { endpoint, tokensFile: options.tokensFile, tokens: options.tokens, alternations: options.alternations, seconds: options.seconds });
    results.set(endpoint, sideBySideResults);
    console.log(`peers ${endpoint}: ${sideBySideResults.map((r) => `${r.name} ${r.rpsMedian.toFixed(0)} req/s`).join(', ')}`);
  }
  await options.launch.stopAll();
  return results;
}

const verdict = (met: boolean) => (met ? 'PASS' : '**MISS**');

/** One table per endpoint: every peer, latchkey's ratio to it, the target and PASS/MISS. */
export function peersReport(results: PeersResult, options: Pick<PeersOptions, 'alternations' | 'seconds' | 'tokens' | 'cacheTtl'>): string {
  const settings = `LOG_LEVEL=warn, ${options.cacheTtl === undefined ? 'other settings at their defaults' : `CACHE_TTL=${options.cacheTtl}, other settings at their defaults`}`;
  const lines = [
    `**Side by side with bare peers**: latchkey (real CLI, PostgreSQL + private Redis, in-process tier on, ${settings}) and each peer up at once, ` +
      `loaded in turn by ${options.alternations} alternations of ${options.seconds} s per endpoint (wrk 2 threads, 64 connections, ${options.tokens.toLocaleString('en-US')} rotating tokens). ` +
      'Figures are medians over the alternations; ratios are medians of the per-alternation ratios (latchkey ÷ peer).',
  ];
  for (const [endpoint, rows] of results) {
    const mine = rows.find((r) => r.name === LATCHKEY)!;
    lines.push('', `\`${endpoint}\`:`, '', '| server | req/s | p99 ms | CPU µs / req | latchkey ÷ server | target | |', '|---|---:|---:|---:|---:|---:|---|');
    for (const row of rows) {
      const goal = PEERS.find((p) => p.name === row.name)?.atLeast;
      const ratio = row === mine ? undefined : pairedRatio(mine.rps, row.rps);
      lines.push(
        `| ${row.name} | ${row.rpsMedian.toFixed(0)} | ${row.p99MsMedian.toFixed(2)} | ${row.cpuUsMedian.toFixed(1)} | ${ratio === undefined ? '' : ratio.toFixed(3)} | ` +
          `${goal === undefined ? '' : `≥ ${goal}`} | ${goal === undefined || ratio === undefined ? '' : verdict(ratio >= goal)} |`,
      );
    }
    const noAuth = rows.find((r) => r.name === NO_AUTH)!;
    const p99Ratio = pairedRatio(mine.p99Ms, noAuth.p99Ms);
    lines.push('', `latchkey p99 ÷ bare no-auth p99 = ${p99Ratio.toFixed(3)} (target ≤ ${P99_AT_MOST}) ${verdict(p99Ratio <= P99_AT_MOST)}`);
  }
  return lines.join('\n');
}
