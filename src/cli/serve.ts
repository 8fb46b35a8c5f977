// `latchkey serve`: the HTTP server, the daily prune, and a graceful stop on SIGTERM/SIGINT
// (stop accepting, finish in-flight requests, flush last_used_at, close pools).
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { buildServer } from '../http/server.js';
import { openLatchkey, type Latchkey } from '../latchkey.js';
import { createLogger } from '../observability/logger.js';
import { checkPruneSchedule, PruneScheduler } from '../scheduler.js';
import { assertMigrated } from '../store/migrate.js';
import { CliError } from './commands.js';

export async function serve(config: Config, options: { migrate: boolean }): Promise<void> {
  // Problems the user can fix are reported before anything starts.
  if (config.pruneSchedule) checkPruneSchedule(config.pruneSchedule);
  if (!options.migrate) await assertMigrated(config.databaseUrl, 'run `latchkey migrate` first, or start without --no-migrate');
  const logger = createLogger(config.logLevel);
  const latchkey = await openLatchkey(config, { logger, migrate: options.migrate, processMetrics: true });
  const scheduler = new PruneScheduler(latchkey);
  if (config.pruneSchedule) scheduler.start(config.pruneSchedule);
  // Best effort: without it, the first failed login is only slower.
  latchkey.accounts.warmUp().catch(() => undefined);
  const app = await buildServer(latchkey);
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await latchkey.close();
    const e = error as { code?: string };
    if (e.code === 'EADDRINUSE') throw new CliError(`port ${config.port} on ${config.host} is already in use (set PORT)`);
    if (e.code === 'EACCES') throw new CliError(`not allowed to listen on ${config.host}:${config.port} (set PORT above 1023)`);
    throw error;
  }
  logger.info(
    { event: 'started', database: latchkey.store.dialect, cache: config.redis ? 'redis' : 'memory', nextPrune: scheduler.nextRun()?.toISOString() ?? null },
    `latchkey listening on http://${config.host}:${config.port}`,
  );

  // `once`: a second signal gets Node's default handling and ends the process at once.
  process.once('SIGTERM', () => void stop(app, scheduler, latchkey, 'SIGTERM'));
  process.once('SIGINT', () => void stop(app, scheduler, latchkey, 'SIGINT'));
}

/** Longer than any request may take (requestTimeout 30 s is for slow clients, not handlers). */
const SHUTDOWN_DEADLINE_MS = 25_000;

let stopping = false;

/**
 * Stops accepting connections, lets every request already received finish, waits for a
 * running prune, flushes the batched last_used_at writes and closes the pools, then exits 0.
 */
async function stop(app: FastifyInstance, scheduler: PruneScheduler, latchkey: Latchkey, signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const { logger } = latchkey;
  const deadline = setTimeout(() => {
    logger.error({ event: 'stop_timeout', ms: SHUTDOWN_DEADLINE_MS }, `Requests still running after ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting without waiting for them`);
    logger.flush?.();
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  logger.info({ event: 'stopping', signal }, `${signal}: no longer accepting connections; finishing in-flight requests`);
  try {
    await app.close();
    await scheduler.stop();
    await latchkey.close(); // flushes pending last_used_at / last_active_at first
  } catch (error) {
    logger.error({ event: 'stop_failed', err: String(error) }, 'Could not stop cleanly');
    logger.flush?.();
    process.exit(1);
  }
  logger.info({ event: 'stopped' }, 'Stopped');
  logger.flush?.();
  process.exit(0);
}
