// The soak's printed report, in Markdown (so it can be pasted into the README as it is): the
// checks, the load by operation and answer, the faults with their times, and RSS and event-loop
// delay over time.
import type { Check } from './checks.js';
import type { FaultLog } from './faults.js';
import type { Ledger } from './ledger.js';
import type { Sample } from './samples.js';

export interface ReportInput {
  checks: Check[];
  ledger: Ledger;
  faults: FaultLog;
  samples: Sample[];
  instances: string[];
  startedAt: number;
  endedAt: number;
}

/** Rows of the RSS / event-loop series shown (evenly spaced samples). */
const SERIES_ROWS = 10;

export function report(input: ReportInput): string {
  return [checksTable(input.checks), loadTable(input), faultsTable(input), seriesTable(input)].join('\n\n');
}

export function checksTable(checks: Check[]): string {
  const value = (n: number) => (Number.isNaN(n) ? '—' : Number.isInteger(n) ? String(n) : n.toFixed(2));
  const rows = checks.map((c) => `| ${c.name} | ${value(c.value)} | ${c.ok ? 'ok' : '**FAIL**'} | ${c.detail.replaceAll('|', '\\|')} |`);
  return ['| check | value | verdict | detail |', '|---|---:|---|---|', ...rows].join('\n');
}

function loadTable({ ledger, startedAt, endedAt }: ReportInput): string {
  const statuses = [...new Set([...ledger.counts.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const header = `| operation | requests | ${statuses.map((s) => (s === 0 ? 'no answer' : s)).join(' | ')} |`;
  const rows = [...ledger.counts].sort(([a], [b]) => a.localeCompare(b)).map(([op, byStatus]) => {
    const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
    return `| ${op} | ${total} | ${statuses.map((s) => byStatus.get(s) ?? '').join(' | ')} |`;
  });
  const seconds = (endedAt - startedAt) / 1000;
  const rate = `${ledger.total()} requests in ${seconds.toFixed(0)} s (${(ledger.total() / seconds).toFixed(0)}/s)`;
  return [rate, '', header, `|---|---:|${statuses.map(() => '---:').join('|')}|`, ...rows].join('\n');
}

function faultsTable({ faults, startedAt }: ReportInput): string {
  const at = (ms: number) => ((ms - startedAt) / 1000).toFixed(1);
  const rows = faults.events.map((e) => `| ${at(e.from)} | ${at(e.until)} | ${e.name} | ${e.error ?? 'done'} |`);
  return ['| from s | until s | fault | outcome |', '|---:|---:|---|---|', ...rows].join('\n');
}

function seriesTable({ samples, instances, startedAt }: ReportInput): string {
  const header = `| s | ${instances.map((i) => `${i} RSS MB | ${i} loop p99 / max ms`).join(' | ')} |`;
  const first = samples.filter((s) => s.instance === instances[0]);
  const step = Math.max(1, Math.ceil(first.length / SERIES_ROWS));
  const rows: string[] = [];
  for (let i = 0; i < first.length; i += step) {
    const cells = instances.map((name) => {
      const s = samples.filter((x) => x.instance === name)[i];
      return s ? `${s.rssMb.toFixed(0)} | ${s.loopP99Ms.toFixed(1)} / ${s.loopMaxMs.toFixed(1)}` : ' | ';
    });
    rows.push(`| ${((first[i]!.at - startedAt) / 1000).toFixed(0)} | ${cells.join(' | ')} |`);
  }
  return [header, `|---:|${instances.map(() => '---:|---:').join('|')}|`, ...rows].join('\n');
}
