// `latchkey serve`: the HTTP server, the daily prune, and a graceful stop on SIGTERM/SIGINT
// (stop accepting, finish in-flight requests, flush last_used_at, close pools).
import { ConfigError, type Config } from '../config.js';
import { buildServer } from '../http/server.js';
import { openLatchkey } from '../latchkey.js';
import { createLogger } from '../observability/logger.js';
import { PruneScheduler } from '../scheduler.js';
import { isMigrated } from '../store/migrate.js';
import { CliError } from './commands.js';

export async function serve(config: Config, options: { migrate: boolean }): Promise<void> {
  const logger = createLogger(config.logLevel);
  const latchkey = await openLatchkey(config, { logger, migrate: options.migrate, processMetrics: true });
  if (!options.migrate && !(await isMigrated(latchkey.store.db, latchkey.store.dialect))) {
    await latchkey.close();
    throw new CliError('the database is not migrated: run `latchkey migrate` first, or start without --no-migrate');
  }
  const scheduler = new PruneScheduler(latchkey);
  if (config.pruneSchedule) {
    try {
      scheduler.start(config.pruneSchedule);
    } catch (error) {
      await latchkey.close();
      throw new ConfigError('PRUNE_SCHEDULE', `not a cron expression: ${(error as Error).message}`);
    }
  }
  void latchkey.auth.warmUp();
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

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal }, 'Stopping: finishing in-flight requests');
    await app.close();
    await scheduler.stop();
    await latchkey.close();
    logger.info({ event: 'stopped' }, 'Stopped');
    logger.flush?.();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
