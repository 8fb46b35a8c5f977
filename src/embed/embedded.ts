// latchkey inside another Node app: the same composition root as the server (openLatchkey, so
// the same cache protocol: invalidation channel, epoch poll, coherence lease, batched
// last_used_at), started with the checks a server makes before it listens, and the request rules
// of ../http/request-credentials.ts. The Fastify plugin and the Express middleware are thin
// adapters of this; other frameworks can use it directly.
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { MaybePromise } from '../core/credentials.js';
import type { AuthContext } from '../core/types.js';
import { ConfigError, loadConfig, redactUrl, type Config } from '../config.js';
import { presentInstant, presentUser } from '../http/presenters.js';
import { authorize, credentialValidator, verifiedEmailRule, type PresentedRequest } from '../http/request-credentials.js';
import { openLatchkey, type Latchkey } from '../latchkey.js';
import { createLogger } from '../observability/logger.js';
import { dialectOf } from '../store/connect.js';
import { assertMigrated, NotMigratedError } from '../store/migrate.js';
import { UnavailableError } from '../core/errors.js';
import { isUnavailable } from '../store/failures.js';

export interface EmbedOptions {
  /** latchkey's configuration variables (README); default `process.env`, with a `.env` file of the working directory. */
  env?: Record<string, string | undefined>;
  /** Where latchkey logs (pino); default JSON lines on standard output at `LOG_LEVEL`. */
  logger?: Logger;
}

/** `req.auth`: who is calling, in the JSON shapes of the HTTP API. */
export interface RequestAuth {
  readonly user: { readonly id: number; readonly name: string | null; readonly email: string; readonly created_at: string | null; readonly email_verified_at: string | null };
  /** The bearer token; null for a cookie session. */
  readonly token: { readonly id: number; readonly name: string; readonly abilities: readonly string[]; readonly expires_at: string | null } | null;
  /** The cookie session; null for a bearer token. */
  readonly session: { readonly id: number } | null;
}

export interface EmbeddedLatchkey {
  /** The core this app runs (the same object the server runs on). */
  readonly core: Latchkey;
  /**
   * Checks the request's credential (bearer token, or session cookie with the CSRF rule for
   * unsafe methods) and `ability`. Throws, or rejects with, an AppError to answer otherwise
   * (401 `unauthenticated`, 403 `forbidden` or `csrf_mismatch`, with REQUIRE_VERIFIED_EMAIL 403
   * `email_unverified` for a user whose email is not verified; 503 when the database is needed
   * and down). Synchronous when the credential is in the in-process tier.
   */
  authorize(request: PresentedRequest, ability?: string): MaybePromise<RequestAuth>;
  /** Flushes the batched last_used_at writes and closes the database, Redis and timers. */
  close(): Promise<void>;
}

/** A problem that stops an embedded latchkey from starting, in one line. */
export class LatchkeyStartError extends Error {
  constructor(problem: string) {
    super(`latchkey: ${problem}`);
    this.name = 'LatchkeyStartError';
  }
}

/**
 * Opens latchkey for an app. Fails here, not at the first request, on bad configuration, a
 * database it cannot reach or one not migrated (an embedded instance never migrates: schema
 * changes are `latchkey migrate`'s). An unreachable Redis is not an error: it serves from the
 * database meanwhile and uses Redis once it answers, as the server does.
 */
export async function embedLatchkey(options: EmbedOptions = {}): Promise<EmbeddedLatchkey> {
  const config = configOf(options.env);
  await requireMigratedDatabase(config);
  const core = await openLatchkey(config, { logger: options.logger ?? createLogger(config.logLevel) });
  const validator = credentialValidator(core);
  const rule = verifiedEmailRule(core);
  const views = new WeakMap<AuthContext, RequestAuth>();
  const viewOf = (ctx: AuthContext): RequestAuth => {
    let view = views.get(ctx);
    if (view === undefined) {
      view = presentAuth(core, ctx);
      views.set(ctx, view);
    }
    return view;
  };
  return {
    core,
    authorize(request, ability) {
      const found = authorize(validator, request, ability, rule);
      return found instanceof Promise ? found.then(viewOf) : viewOf(found);
    },
    close: () => core.close(),
  };
}

/**
 * Calls `accept` with the request's `req.auth`, or `refuse` with the error to answer, at once
 * (no promise) when the credential is in the in-process tier: the adapters' common step.
 */
export function authorizeThen(embedded: EmbeddedLatchkey, request: PresentedRequest, ability: string | undefined, accept: (auth: RequestAuth) => void, refuse: (error: unknown) => void): void {
  let found: MaybePromise<RequestAuth>;
  try {
    found = embedded.authorize(request, ability);
  } catch (error) {
    return refuse(error);
  }
  if (found instanceof Promise) found.then(accept, refuse);
  else accept(found);
}

function configOf(env: EmbedOptions['env']): Config {
  try {
    return loadConfig(env ?? process.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new LatchkeyStartError(`configuration error: ${error.message}`);
    throw error;
  }
}

async function requireMigratedDatabase(config: Config): Promise<void> {
  const url = config.databaseUrl;
  const unmigrated = `the database is not migrated: run \`latchkey migrate\` first (DATABASE_URL=${redactUrl(url)})`;
  // Opening a SQLite file that is not there would create an empty one.
  if (dialectOf(url) === 'sqlite' && url !== 'sqlite::memory:' && !existsSync(url.slice('sqlite:'.length))) throw new LatchkeyStartError(unmigrated);
  try {
    await assertMigrated(url, `run \`latchkey migrate\` first (DATABASE_URL=${redactUrl(url)})`);
  } catch (error) {
    if (error instanceof NotMigratedError) throw new LatchkeyStartError(error.message);
    // An unavailable database's own error (ECONNREFUSED, 28P01, …) names the problem.
    const cause = error instanceof UnavailableError ? error.causeError : error;
    const { code, message } = cause as { code?: string; message?: string };
    const why = isUnavailable(error) ? `cannot reach the database${code ? ` (${code})` : ''}` : `cannot use the database: ${String(message ?? error).split('\n')[0]}`;
    throw new LatchkeyStartError(`${why}: check DATABASE_URL (${redactUrl(url)})`);
  }
}

/** Frozen: one view serves every request of a cached credential, and no handler may change it. */
function presentAuth(core: Latchkey, ctx: AuthContext): RequestAuth {
  const { token, session } = ctx;
  return deepFreeze({
    user: presentUser(ctx.user),
    token: token && { id: token.id, name: token.name, abilities: [...token.abilities], expires_at: presentInstant(core.credentials.expiryOf(token)) },
    session: session && { id: session.id },
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (inner !== null && typeof inner === 'object') deepFreeze(inner as object);
  return Object.freeze(value);
}
