// The comparison servers of `npm run bench`, one process each, on latchkey's own Fastify setup
// (src/http/app.ts: logger, request ids, access log, cookies, headers) with the same response
// schemas as latchkey's /api/auth/me and /api/auth/verify, so that only the authentication differs:
//   plain    no authentication at all (the ceiling)
//   jwt      stateless HS256 JWT verification with jose, key imported once
//   sanctum  what Laravel Sanctum does per request: SELECT the token by id, SELECT its user,
//            UPDATE last_used_at, on the same PostgreSQL tables (a pg pool of 10, like latchkey's)
//   bare     plain on a bare Fastify (no logger, no hooks): short for `plain --bare`
//   lookup   the least any per-token authentication can do on this setup: SHA-256 of the bearer
//            secret, one Map lookup among every token (read from the database at start-up), and
//            the answer's body kept per token (as latchkey keeps it): no expiry, no revocation,
//            no coherence. A floor for latchkey's (e), not a competitor (bench/ab.ts only)
// and two steps between plain and lookup, to split the distance between them (bench/ab.ts only):
//   kept     plain, with the body kept as lookup keeps it (one for everyone): what serialising
//            each answer costs plain
//   byid     lookup without the hashing: the token found by the id before its `|`, in a Map
//            keyed by number: what answering with data that differs per request costs
//   redis    the seed's design: SHA-256 of the bearer secret, one Redis GET of the token's
//            identity as JSON (preloaded at start-up from the database under REDIS_PREFIX),
//            JSON.parse, answer
// `--bare` after the mode runs it on a bare Fastify 5 (no logger, no hooks) instead of latchkey's
// setup: the bare peers of `npm run bench -- --stage peers` (bench/peers.ts).
// Usage: tsx bench/servers/baseline.ts <mode> [--bare]; env PORT, DATABASE_URL, JWT_SECRET,
// LOG_LEVEL, REDIS_URL and REDIS_PREFIX (redis).
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { jwtVerify } from 'jose';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseToken, sha256Hex } from '../../src/core/token-format.js';
import { createHttpApp } from '../../src/http/app.js';
import { tokenInfoSchema, userSchema } from '../../src/http/presenters.js';
import { RenderedBodies } from '../../src/http/rendered-bodies.js';
import { createLogger } from '../../src/observability/logger.js';
import { toIso } from '../../src/store/time.js';

const MODES = ['plain', 'jwt', 'sanctum', 'bare', 'lookup', 'kept', 'byid', 'redis'] as const;
type Mode = (typeof MODES)[number];

interface Identity {
  user: { id: number; name: string | null; email: string; created_at: string | null; email_verified_at: string | null };
  token: { id: number; name: string; abilities: string[]; created_at: string | null; last_used_at: string | null; expires_at: string | null; current: boolean } | null;
}

const mode = process.argv[2] as Mode;
const bareSetup = mode === 'bare' || process.argv[3] === '--bare';
if (!MODES.includes(mode) || (process.argv[3] !== undefined && process.argv[3] !== '--bare')) {
  console.error(`usage: baseline.ts <${MODES.join('|')}> [--bare]`);
  process.exit(2);
}

const meSchema = {
  response: {
    200: { type: 'object', required: ['user', 'token'], properties: { user: userSchema, token: { ...tokenInfoSchema, type: ['object', 'null'] } } },
  },
};
const verifySchema = {
  response: {
    200: {
      type: 'object',
      required: ['user_id', 'token_id', 'abilities', 'expires_at'],
      properties: {
        user_id: { type: 'integer' },
        token_id: { type: ['integer', 'null'] },
        abilities: { type: 'array', items: { type: 'string' } },
        expires_at: { type: ['string', 'null'], format: 'date-time' },
      },
    },
  },
};

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

/** Resolves the caller for the mode, or undefined (401). */
async function makeAuthenticator(): Promise<(request: FastifyRequest) => Identity | undefined | Promise<Identity | undefined>> {
  const createdAt = new Date(0).toISOString();
  if (mode === 'lookup') {
    const byHash = await identitiesByHash();
    return (request) => {
      const raw = bearer(request);
      return raw === undefined ? undefined : byHash.get(sha256Hex(raw.slice(raw.indexOf('|') + 1)));
    };
  }
  if (mode === 'byid') {
    const byId = new Map([...(await identitiesByHash()).values()].map((identity) => [identity.token!.id, identity]));
    return (request) => {
      const raw = bearer(request);
      return raw === undefined ? undefined : byId.get(Number(raw.slice(0, raw.indexOf('|'))));
    };
  }
  if (mode === 'plain' || mode === 'bare' || mode === 'kept') {
    // The same answer for everyone: what the route costs with no authentication at all.
    const identity: Identity = {
      user: { id: 1, name: 'Bench User 1', email: 'user1@bench.test', created_at: createdAt, email_verified_at: null },
      token: { id: 1, name: 'bench', abilities: ['*'], created_at: createdAt, last_used_at: null, expires_at: null, current: true },
    };
    return () => identity;
  }
  if (mode === 'redis') {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const prefix = process.env.REDIS_PREFIX ?? 'seed:';
    await preloadRedis(redis, prefix);
    return async (request) => {
      const raw = bearer(request);
      if (raw === undefined) return undefined;
      const json = await redis.get(prefix + sha256Hex(raw.slice(raw.indexOf('|') + 1)));
      return json === null ? undefined : (JSON.parse(json) as Identity);
    };
  }
  if (mode === 'jwt') {
    const key = new TextEncoder().encode(process.env.JWT_SECRET ?? '');
    return async (request) => {
      const jwt = bearer(request);
      if (!jwt) return undefined;
      try {
        const { payload } = await jwtVerify(jwt, key, { algorithms: ['HS256'] });
        const exp = typeof payload.exp === 'number' ? new Date(payload.exp * 1000).toISOString() : null;
        const iat = typeof payload.iat === 'number' ? new Date(payload.iat * 1000).toISOString() : null;
        return {
          user: { id: Number(payload.sub), name: payload.name as string, email: payload.email as string, created_at: createdAt, email_verified_at: null },
          token: { id: Number(payload.jti), name: 'bench', abilities: payload.abilities as string[], created_at: iat, last_used_at: null, expires_at: exp, current: true },
        };
      } catch {
        return undefined;
      }
    };
  }
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  return async (request) => {
    const parsed = parseToken(bearer(request) ?? '', 'lk_');
    if (!parsed || parsed.id === null) return undefined;
    // Sanctum's PersonalAccessToken::findToken, then the tokenable relation, then the save of last_used_at.
    const { rows: tokens } = await pool.query('select * from personal_access_tokens where id = $1 limit 1', [parsed.id]);
    const token = tokens[0];
    if (!token || !timingSafeEqual(Buffer.from(token.token), Buffer.from(parsed.hash))) return undefined;
    if (token.expires_at !== null && token.expires_at <= new Date()) return undefined;
    const { rows: users } = await pool.query('select * from users where id = $1 limit 1', [token.tokenable_id]);
    const user = users[0];
    if (!user) return undefined;
    const now = new Date();
    await pool.query('update personal_access_tokens set last_used_at = $1, updated_at = $2 where id = $3', [now, now, token.id]);
    return identityOf(token, user, now);
  };
}

interface TokenRow {
  id: string | number;
  name: string;
  abilities: string | null;
  created_at: Date | null;
  expires_at: Date | null;
}
interface UserRow {
  id: string | number;
  name: string | null;
  email: string;
  created_at: Date | null;
  email_verified_at: Date | null;
}

/** The identity /me presents, from a personal_access_tokens row and its users row (as pg reads them). */
function identityOf(token: TokenRow, user: UserRow, lastUsedAt: Date | null): Identity {
  const iso = (date: Date | null) => toIso(date?.getTime() ?? null);
  return {
    user: { id: Number(user.id), name: user.name, email: user.email, created_at: iso(user.created_at), email_verified_at: iso(user.email_verified_at) },
    token: {
      id: Number(token.id),
      name: token.name,
      abilities: JSON.parse(token.abilities ?? '["*"]'),
      created_at: iso(token.created_at),
      last_used_at: iso(lastUsedAt),
      expires_at: iso(token.expires_at),
      current: true,
    },
  };
}

/** Every token's identity, by the SHA-256 its row stores, as /me presents it (lookup mode). */
async function identitiesByHash(): Promise<Map<string, Identity>> {
  const byHash = new Map<string, Identity>();
  await forEachIdentityBatch((batch) => {
    for (const [hash, identity] of batch) byHash.set(hash, identity);
  });
  return byHash;
}

/** The seed design's Redis: every token's identity as JSON under prefix + its SHA-256. */
async function preloadRedis(redis: Redis, prefix: string): Promise<void> {
  await forEachIdentityBatch((batch) => redis.mset(new Map(batch.map(([hash, identity]) => [prefix + hash, JSON.stringify(identity)]))));
}

/** The tokens with their users, in batches by id (a million rows never sit in memory twice). */
async function forEachIdentityBatch(use: (batch: [string, Identity][]) => unknown): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    for (let after = 0; ; ) {
      const { rows } = await client.query(
        `select t.id, t.token, t.name, t.abilities, t.created_at, t.expires_at, u.id as user_id, u.name as user_name, u.email, u.created_at as user_created_at, u.email_verified_at
         from personal_access_tokens t join users u on u.id = t.tokenable_id where t.id > $1 order by t.id limit 20000`,
        [after],
      );
      if (rows.length === 0) return;
      await use(rows.map((row) => [row.token as string, identityOf(row, { id: row.user_id, name: row.user_name, email: row.email, created_at: row.user_created_at, email_verified_at: row.email_verified_at }, null)]));
      after = Number(rows[rows.length - 1].id);
    }
  } finally {
    await client.end();
  }
}

const authenticate = await makeAuthenticator();
/** Bodies kept per identity (lookup, kept, byid); the others serialise every answer, as a route does. */
const rendered = mode === 'lookup' || mode === 'kept' || mode === 'byid' ? { me: new RenderedBodies<Identity>(), verify: new RenderedBodies<Identity>() } : undefined;
const app = bareSetup ? Fastify({ logger: false }) : await createHttpApp({ logger: createLogger(process.env.LOG_LEVEL ?? 'warn'), trustProxy: false });

interface Answer {
  body: (identity: Identity) => object;
  /** Kept bodies (lookup, kept, byid). */
  bodies?: RenderedBodies<Identity>;
  headers?: (identity: Identity, reply: FastifyReply) => void;
}

/**
 * Answers with the route's body for the caller, or 401. Synchronous when the identity is
 * (all but jwt and sanctum), as latchkey answers a warm token: every server gets the same, leanest
 * handler shape.
 */
function respond(request: FastifyRequest, reply: FastifyReply, answer: Answer): FastifyReply | Promise<FastifyReply> {
  const send = (identity: Identity | undefined) => {
    if (!identity) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'unauthenticated', message: 'Unauthenticated.' } });
    answer.headers?.(identity, reply);
    return answer.bodies ? answer.bodies.send(reply, identity, () => answer.body(identity)) : reply.send(answer.body(identity));
  };
  const found = authenticate(request);
  return found instanceof Promise ? found.then(send) : send(found);
}

app.get('/healthz', async () => ({ status: 'ok' }));
const me: Answer = { bodies: rendered?.me, body: (identity) => ({ user: identity.user, token: identity.token }) };
const verify: Answer = {
  bodies: rendered?.verify,
  headers: (identity, reply) => {
    void reply.header('x-user-id', String(identity.user.id));
    if (identity.token) void reply.header('x-token-id', String(identity.token.id));
  },
  body: (identity) => ({ user_id: identity.user.id, token_id: identity.token?.id ?? null, abilities: identity.token?.abilities ?? ['*'], expires_at: identity.token?.expires_at ?? null }),
};
app.get('/api/auth/me', { schema: meSchema }, (request, reply) => respond(request, reply, me));
app.get('/api/auth/verify', { schema: verifySchema }, (request, reply) => respond(request, reply, verify));

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
