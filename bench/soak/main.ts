// `npm run soak [-- --minutes N | --seconds N]`: the chaos soak (10 minutes by default). Prints the
// report on stdout and exits 1 when a check fails.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, loadAverage } from '../lib/machine.js';
import { postgresBin } from './postgres-cluster.js';
import { runSoak } from './soak.js';

const DEFAULT_MINUTES = 10;

function durationMs(): number {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, seconds: { type: 'string' } } });
  const parse = (flag: string, text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) {
      console.error(`soak: --${flag} expects a positive number, got "${text}"`);
      process.exit(2);
    }
    return n;
  };
  if (values.seconds !== undefined) return parse('seconds', values.seconds) * 1000;
  return parse('minutes', values.minutes ?? String(DEFAULT_MINUTES)) * 60_000;
}

/** One line saying what the numbers were measured on. */
function machineLine(startedAt: Date, loadAtStart: string): string {
  const m = describeMachine();
  const version = (file: string) => execFileSync(file, ['--version'], { encoding: 'utf8' }).trim();
  const postgres = version(join(postgresBin(), 'postgres')).replace(/^postgres \(PostgreSQL\) /, '');
  const redis = /v=(\S+)/.exec(version('redis-server'))?.[1] ?? 'unknown';
  const minutes = ((Date.now() - startedAt.getTime()) / 60_000).toFixed(1);
  return `Started ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min in all, commit ${m.commit}; ${m.cpus} vCPUs ${m.model}, Node ${m.node}, PostgreSQL ${postgres}, Redis ${redis}; load average ${loadAtStart} at the start, ${loadAverage()} at the end.`;
}

const duration = durationMs();
const startedAt = new Date();
const loadAtStart = loadAverage();
const result = await runSoak({ durationMs: duration, progress: (line) => console.error(`soak: ${line}`) });
console.log(`${machineLine(startedAt, loadAtStart)}\n\n${result.text}`);
if (result.logs) console.error(`soak: a check failed; the instances' logs are in ${result.logs}`);
process.exit(result.ok ? 0 : 1);
