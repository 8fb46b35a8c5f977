// An in-process instance with a chosen logger and no wait for Redis (test/helpers/app.ts waits
// for Redis and logs to stdout): for log capture, and for Redis or the database being down.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import { openLatchkey, type Latchkey } from '../../src/latchkey.js';
import { createLogger } from '../../src/observability/logger.js';
import { testEnv } from '../helpers/app.js';

export interface CapturedLog {
  /** Every line exactly as written. */
  text(): string;
  lines(): Record<string, any>[];
  stream: Writable;
}

export function captureLog(): CapturedLog {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return {
    stream,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
  };
}

export interface OpsInstance {
  latchkey: Latchkey;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function openInstance(env: Record<string, string>, log?: CapturedLog): Promise<OpsInstance> {
  const config = parseConfig(testEnv(env));
  const logger = createLogger(config.logLevel, log?.stream ?? captureLog().stream);
  const latchkey = await openLatchkey(config, { logger, migrate: true });
  const app = await buildServer(latchkey);
  await app.ready();
  return {
    latchkey,
    app,
    async close() {
      await app.close();
      await latchkey.close();
    },
  };
}

/** The value of one sample in Prometheus text, e.g. sample(text, 'x_total', { tier: 'memory' }). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}
