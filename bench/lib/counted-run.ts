// One measured wrk run with what the server did around it: SQL statements (pg_stat_database of
// the run's own database), Redis commands (INFO of the private redis-server) and server CPU.
import { cpuMs, sleep } from './processes.js';
import { commandsProcessed, type PrivateRedis } from './redis-server.js';
import { runWrk, type WrkOptions, type WrkResult } from './wrk.js';

/** Longer than PostgreSQL's once-a-second statistics flush, so the counters are complete. */
export const SETTLE_MS = 1500;

export interface CountedRun {
  result: WrkResult;
  sqlPerRequest: number;
  redisPerRequest: number;
  /** Server CPU (user + system) per request: robust to other load on the machine. */
  cpuUsPerRequest: number;
}

export async function countedRun(load: WrkOptions, pid: number, statements: () => Promise<number>, redis: PrivateRedis): Promise<CountedRun> {
  await sleep(SETTLE_MS);
  const sqlBefore = await statements();
  const redisBefore = await commandsProcessed(redis.client);
  const cpuBefore = cpuMs(pid);
  const result = await runWrk(load);
  const cpuUsPerRequest = ((cpuMs(pid) - cpuBefore) * 1000) / result.requests;
  await sleep(SETTLE_MS);
  const sqlAfter = await statements();
  // The INFO that read redisBefore is counted in redisAfter.
  const redisAfter = (await commandsProcessed(redis.client)) - 1;
  return { result, sqlPerRequest: (sqlAfter - sqlBefore) / result.requests, redisPerRequest: (redisAfter - redisBefore) / result.requests, cpuUsPerRequest };
}
