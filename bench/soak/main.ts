// `npm run soak [-- --minutes N | --seconds N]`: the chaos soak (10 minutes by default). Prints the
// report on stdout and exits 1 when a check fails.
import { parseArgs } from 'node:util';
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

const duration = durationMs();
const result = await runSoak({ durationMs: duration, progress: (line) => console.error(`soak: ${line}`) });
console.log(result.text);
if (result.logs) console.error(`soak: a check failed; the instances' logs are in ${result.logs}`);
process.exit(result.ok ? 0 : 1);
