// Servers compared side by side: all of them up at once, loaded in turn by short wrk runs that
// alternate between them (in reverse order every other time), so that neighbours in time see the
// same machine. On a shared machine whose speed drifts by tens of per cent over minutes, medians
// of the per-alternation ratios resolve differences of a few per cent that runs minutes apart
// cannot. Used by bench/ab.ts and by npm run bench (bench/run.ts).
import { cpuMs } from './processes.js';
import { assertAllOk, runWrk, warmUp } from './wrk.js';

/** At most 3 minutes of warm-up per contestant and endpoint. */
const WARMUP_MAX_RUNS = 60;

export interface Contestant {
  name: string;
  port: number;
  pid: number;
  /** Its own path, when it serves the compared route elsewhere than `options.endpoint`. */
  endpoint?: string;
  /** Its clients' credentials when they differ from options.tokensFile (JWTs). */
  tokensFile?: string;
}

export interface SideBySideOptions {
  endpoint: string;
  tokensFile: string;
  tokens: number;
  alternations: number;
  seconds: number;
  /** Windows draw each request's token at random (the warm-up still walks them all in order). */
  random?: boolean;
}

export interface SideBySideResult {
  name: string;
  rpsMedian: number;
  cpuUsMedian: number;
  /** Medians of the per-alternation ratios to the first contestant. */
  rpsRatio: number;
  cpuRatio: number;
  p99MsMedian: number;
  /** Per alternation, for ratios between any two contestants (pairedRatio). */
  rps: number[];
  p99Ms: number[];
}

/** The median of a's per-alternation figures divided by b's. */
export function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function sideBySide(contestants: Contestant[], options: SideBySideOptions): Promise<SideBySideResult[]> {
  const load = (c: Contestant) => ({ url: `http://127.0.0.1:${c.port}${c.endpoint ?? options.endpoint}`, tokensFile: c.tokensFile ?? options.tokensFile, connections: 64, threads: 2 });
  // Every token presented before the first window, however long that takes (a server answering
  // from its database while cold would otherwise be measured cold, and stay cold at its pace).
  for (const c of contestants) await warmUp(load(c), options.tokens, `${c.name} ${options.endpoint}`, 3, WARMUP_MAX_RUNS);
  const rps = contestants.map((): number[] => []);
  const cpu = contestants.map((): number[] => []);
  const p99 = contestants.map((): number[] => []);
  for (let i = 0; i < options.alternations; i++) {
    const order = contestants.map((_, index) => index);
    for (const index of i % 2 === 0 ? order : order.reverse()) {
      const c = contestants[index]!;
      const before = cpuMs(c.pid);
      const result = await runWrk({ ...load(c), seconds: options.seconds, offset: i * 1000, random: options.random });
      assertAllOk(`${c.name} ${options.endpoint}`, result);
      rps[index]!.push(result.rps);
      p99[index]!.push(result.p99Ms);
      cpu[index]!.push(((cpuMs(c.pid) - before) * 1000) / result.requests);
    }
  }
  return contestants.map((c, index) => ({
    name: c.name,
    rpsMedian: median(rps[index]!),
    cpuUsMedian: median(cpu[index]!),
    rpsRatio: pairedRatio(rps[index]!, rps[0]!),
    cpuRatio: pairedRatio(cpu[index]!, cpu[0]!),
    p99MsMedian: median(p99[index]!),
    rps: rps[index]!,
    p99Ms: p99[index]!,
  }));
}

/** A markdown table of one endpoint's results. */
export function sideBySideTable(results: SideBySideResult[]): string {
  const first = results[0]!.name;
  return [
    `| server | req/s (median) | CPU µs / req (median) | req/s ÷ ${first} | CPU ÷ ${first} |`,
    '|---|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.name} | ${r.rpsMedian.toFixed(0)} | ${r.cpuUsMedian.toFixed(1)} | ${r.rpsRatio.toFixed(3)} | ${r.cpuRatio.toFixed(3)} |`),
  ].join('\n');
}
