// Resident memory and event-loop delay of each instance over time, read from its own /metrics
// (prom-client's process metrics: process_resident_memory_bytes, and the event-loop delay
// histogram, which prom-client resets at every scrape, so each sample covers one interval).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Instance } from './load.js';

export interface Sample {
  instance: string;
  /** performance.now() of the scrape. */
  at: number;
  rssMb: number;
  loopP99Ms: number;
  loopMaxMs: number;
}

export async function sampleUntil(instances: Instance[], everyMs: number, signal: AbortSignal, into: Sample[]): Promise<void> {
  while (!signal.aborted) {
    await sleep(everyMs, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) return;
    for (const instance of instances) {
      const sample = await scrape(instance).catch(() => undefined);
      if (sample) into.push(sample);
    }
  }
}

async function scrape(instance: Instance): Promise<Sample> {
  const at = performance.now();
  const response = await fetch(`${instance.base}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  const value = (name: string): number => {
    const match = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
    if (!match) throw new Error(`/metrics of ${instance.name} has no ${name}`);
    return Number(match[1]);
  };
  return {
    instance: instance.name,
    at,
    rssMb: value('process_resident_memory_bytes') / 2 ** 20,
    loopP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
    loopMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
  };
}
