// latchkey's cache counters, read from its /metrics (src/observability/metrics.ts), for the stages
// that count what the cache does under load (saturation, the million tokens, the cold start).

export interface CacheCounters {
  validations: number;
  memory: number;
  redis: number;
  database: number;
  fallbacks: number;
  refreshes: number;
  /** latchkey_cache_lease_lapses_total; undefined in builds without it. */
  leaseLapses: number | undefined;
}

/** The sum of a counter's series whose name and labels start with `series` (undefined when absent). */
function sumOf(text: string, series: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(series)) continue;
    // `name` must not match `name_other`: what follows is a space, a label set or its end.
    if (!' {},'.includes(line[series.length] ?? '_')) continue;
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export async function readCacheCounters(metricsUrl: string): Promise<CacheCounters> {
  const text = await (await fetch(metricsUrl)).text();
  const tier = (name: string) => sumOf(text, `latchkey_cache_lookups_total{tier="${name}"`) ?? 0;
  return {
    validations: sumOf(text, 'latchkey_validations_total') ?? 0,
    memory: tier('memory'),
    redis: tier('redis'),
    database: tier('database'),
    fallbacks: sumOf(text, 'latchkey_cache_fallbacks_total') ?? 0,
    refreshes: sumOf(text, 'latchkey_cache_refreshes_total') ?? 0,
    leaseLapses: sumOf(text, 'latchkey_cache_lease_lapses_total'),
  };
}

/** b − a, field by field (lease lapses stay undefined when the build has none). */
export function countersDelta(a: CacheCounters, b: CacheCounters): CacheCounters {
  return {
    validations: b.validations - a.validations,
    memory: b.memory - a.memory,
    redis: b.redis - a.redis,
    database: b.database - a.database,
    fallbacks: b.fallbacks - a.fallbacks,
    refreshes: b.refreshes - a.refreshes,
    leaseLapses: a.leaseLapses === undefined || b.leaseLapses === undefined ? undefined : b.leaseLapses - a.leaseLapses,
  };
}
