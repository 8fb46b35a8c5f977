// The built-in daily prune (PRUNE_SCHEDULE, in TZ). Every instance runs the timer; a database
// lease named after the tick lets exactly one of them prune. The database is the lock holder
// of choice because pruning needs it anyway, and it works with or without Redis.
import { Cron } from 'croner';
import { ConfigError } from './config.js';
import type { Latchkey } from './latchkey.js';

/** Long enough that an instance whose clock is late still finds the tick taken. */
const TICK_LEASE_MS = 6 * 3_600_000;

export class PruneScheduler {
  private job: Cron | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly latchkey: Latchkey) {}

  /** Call checkPruneSchedule first: croner throws on an expression it cannot parse. */
  start(expression: string): void {
    this.job = new Cron(expression, { protect: true, catch: true }, () => {
      this.running = this.tick(new Date()).then(() => undefined);
      return this.running;
    });
  }

  nextRun(): Date | null {
    return this.job?.nextRun() ?? null;
  }

  async stop(): Promise<void> {
    this.job?.stop();
    await this.running;
  }

  /** One scheduled run; public so tests can drive ticks without waiting for the clock. */
  async tick(at: Date): Promise<boolean> {
    const { store, credentials, metrics, logger, config, instanceId } = this.latchkey;
    const tickName = `prune:${at.toISOString().slice(0, 16)}`;
    try {
      if (!(await store.locks.acquire(tickName, instanceId, TICK_LEASE_MS))) {
        metrics.pruneRuns.inc({ outcome: 'skipped' });
        logger.debug({ event: 'prune_skipped', tick: tickName }, 'Another instance prunes this tick');
        return false;
      }
      const result = await credentials.prune(config.pruneHours);
      metrics.pruneRuns.inc({ outcome: 'done' });
      metrics.prunedRows.inc({ table: 'personal_access_tokens' }, result.tokens);
      metrics.prunedRows.inc({ table: 'latchkey_sessions' }, result.sessions);
      logger.info({ event: 'prune_done', tokens: result.tokens, sessions: result.sessions, ms: result.ms }, `Pruned ${result.tokens} tokens and ${result.sessions} sessions in ${result.ms} ms`);
      return true;
    } catch (error) {
      metrics.pruneRuns.inc({ outcome: 'failed' });
      logger.error({ event: 'prune_failed', err: String(error) }, 'Scheduled prune failed; it runs again at the next tick');
      return false;
    }
  }
}

/** Fails with a ConfigError naming PRUNE_SCHEDULE unless croner can parse the expression. */
export function checkPruneSchedule(expression: string): void {
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (error) {
    throw new ConfigError('PRUNE_SCHEDULE', `"${expression}" is not a cron expression (${(error as Error).message}); use e.g. "0 2 * * *", or off`);
  }
}
