// Configuration from the environment (docs/api.md §1). Every problem is reported as one
// ConfigError naming the variable, so the CLI can print a single clear line.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { MAX_TOKEN_LIFETIME_MINUTES } from './core/validation.js';

/** A hundred years: any grace period beyond this is a typo, and dates past it do not exist. */
export const MAX_PRUNE_HOURS = 876_000;
/** Node timers overflow past 2^31-1 ms (and then fire at once); no knob needs more than an hour. */
const MAX_TIMER_MS = 3_600_000;

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export type RedisConfig =
  | { kind: 'url'; url: string }
  | { kind: 'host'; host: string; port: number; password?: string }
  | { kind: 'cluster'; nodes: HostPort[]; password?: string }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string; password?: string };

export interface HostPort {
  host: string;
  port: number;
}

export type TrustProxy = boolean | number | string[];

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  databaseReplicaUrl?: string;
  redis?: RedisConfig;
  cachePrefix: string;
  cacheTtlSeconds: number;
  redisTimeoutMs: number;
  tokenExpirationMinutes: number;
  tokenPrefix: string;
  loginRevokesOtherTokens: boolean;
  loginRateLimit: number;
  trustProxy: TrustProxy;
  metricsToken?: string;
  /** Serve /metrics without METRICS_TOKEN even when HOST is not a loopback address. */
  metricsPublic: boolean;
  passwordMinLength: number;
  passwordHasher: 'bcrypt' | 'argon2id';
  bcryptRounds: number;
  sessionLifetimeMinutes: number;
  sessionSecureCookie: boolean;
  pruneSchedule: string | null;
  pruneHours: number;
  logLevel: string;
  /** How often each instance re-reads the cache epoch from the database (revocation fallback path). */
  epochPollMs: number;
  /** How long a statement may wait for the database before it fails as unavailable (not migrations). */
  databaseTimeoutMs: number;
  /** How often batched last_used_at / last_active_at writes are flushed. */
  lastUsedFlushSeconds: number;
  /** Bounds of the in-process cache tier. */
  memoryCacheEntries: number;
  memoryCacheBytes: number;
  /** Account recovery and email verification (docs/recovery.md). */
  recovery: RecoveryConfig;
  /** Abuse limits (docs/api.md §3.7): registrations per client IP, failed logins per account, hashes waiting. */
  registerRateLimit: number;
  accountLoginRateLimit: number;
  passwordHashQueue: number;
}

export interface RecoveryConfig {
  /** Base of the links in mails, without a trailing slash. */
  appUrl: string;
  /** Laravel's APP_KEY exactly as configured; undefined: generated once and kept in the database. */
  appKey?: string;
  /** undefined: mails are written to the log. */
  mail?: MailServerConfig;
  mailFrom: { address: string; name: string };
  /** A directory whose files replace the built-in mail templates of the same name. */
  mailTemplatesDir?: string;
  passwordResetExpireMinutes: number;
  passwordResetThrottleSeconds: number;
  requireVerifiedEmail: boolean;
  /** The outbox worker: how often idle instances look for due mails, first retry delay, attempts. */
  mailPollMs: number;
  mailRetryBaseMs: number;
  mailMaxAttempts: number;
}

export interface MailServerConfig {
  host: string;
  port: number;
  /** TLS from the first byte (smtps://, MAIL_ENCRYPTION=ssl); else STARTTLS when offered. */
  secure: boolean;
  user?: string;
  password?: string;
}

type Env = Record<string, string | undefined>;

/** Reads `.env` from the working directory (without overriding real variables), then parses. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dotenv = `${cwd}/.env`;
  if (env === process.env && existsSync(dotenv)) process.loadEnvFile(dotenv);
  return parseConfig(env);
}

export function parseConfig(env: Env): Config {
  const read = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  // Laravel's spelling is an alias, with Laravel's meaning of `null`: tokens never expire.
  const tokenExpiration = read('TOKEN_EXPIRATION') !== undefined ? 'TOKEN_EXPIRATION' : 'SANCTUM_TOKEN_EXPIRATION';
  const readExpiration = (name: string) => (name === 'SANCTUM_TOKEN_EXPIRATION' && read(name)?.toLowerCase() === 'null' ? '0' : read(name));

  return {
    port: integer(read, 'PORT', 3000, 0, 65535),
    host: read('HOST') ?? '127.0.0.1',
    databaseUrl: databaseUrl('DATABASE_URL', read('DATABASE_URL') ?? 'sqlite:./data/latchkey.db'),
    databaseReplicaUrl: optional(read('DATABASE_REPLICA_URL'), (v) => databaseUrl('DATABASE_REPLICA_URL', v)),
    redis: redisConfig(read),
    // Blank is unset, as for every variable: an empty prefix would let cache:clear match other programs' keys.
    cachePrefix: read('CACHE_PREFIX') ?? 'latchkey:',
    cacheTtlSeconds: integer(read, 'CACHE_TTL', 60, 1, 86_400),
    redisTimeoutMs: integer(read, 'REDIS_TIMEOUT', 250, 1, 60_000),
    tokenExpirationMinutes: integer(readExpiration, tokenExpiration, 43200, 0, MAX_TOKEN_LIFETIME_MINUTES),
    tokenPrefix: tokenPrefix(env.TOKEN_PREFIX ?? 'lk_'),
    loginRevokesOtherTokens: boolean(read, 'LOGIN_REVOKES_OTHER_TOKENS', true),
    loginRateLimit: integer(read, 'LOGIN_RATE_LIMIT', 5, 1),
    trustProxy: trustProxy(read('TRUST_PROXY')),
    metricsToken: read('METRICS_TOKEN'),
    metricsPublic: boolean(read, 'METRICS_PUBLIC', false),
    passwordMinLength: integer(read, 'PASSWORD_MIN_LENGTH', 8, 1, 72),
    passwordHasher: hasher(read('PASSWORD_HASHER')),
    bcryptRounds: integer(read, 'BCRYPT_ROUNDS', 12, 4, 31),
    sessionLifetimeMinutes: integer(read, 'SESSION_LIFETIME', 120, 1, MAX_TOKEN_LIFETIME_MINUTES),
    sessionSecureCookie: boolean(read, 'SESSION_SECURE_COOKIE', false),
    pruneSchedule: pruneSchedule(read('PRUNE_SCHEDULE')),
    pruneHours: integer(read, 'PRUNE_HOURS', 24, 0, MAX_PRUNE_HOURS),
    logLevel: logLevel(read('LOG_LEVEL')),
    epochPollMs: integer(read, 'LATCHKEY_EPOCH_POLL_MS', 50, 5, MAX_TIMER_MS),
    databaseTimeoutMs: integer(read, 'LATCHKEY_DATABASE_TIMEOUT', 5000, 100, MAX_TIMER_MS),
    lastUsedFlushSeconds: integer(read, 'LATCHKEY_LAST_USED_FLUSH', 60, 1, MAX_TIMER_MS / 1000),
    memoryCacheEntries: integer(read, 'LATCHKEY_MEMORY_CACHE_ENTRIES', 100_000, 0),
    memoryCacheBytes: integer(read, 'LATCHKEY_MEMORY_CACHE_MB', 64, 0) * 1024 * 1024,
    recovery: recoveryConfig(read),
    registerRateLimit: integer(read, 'REGISTER_RATE_LIMIT', 10, 1),
    accountLoginRateLimit: integer(read, 'ACCOUNT_LOGIN_RATE_LIMIT', 20, 1),
    passwordHashQueue: integer(read, 'PASSWORD_HASH_QUEUE', 32, 0),
  };
}

function optional<T>(value: string | undefined, parse: (v: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

function integer(read: (n: string) => string | undefined, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = read(name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < 0 && min >= 0) throw new ConfigError(name, `must not be negative, got ${raw}`);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${raw}`);
  return n;
}

function boolean(read: (n: string) => string | undefined, name: string, fallback: boolean): boolean {
  const raw = read(name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function databaseUrl(name: string, raw: string): string {
  if (raw.startsWith('sqlite:')) {
    if (raw.slice('sqlite:'.length) === '') throw new ConfigError(name, 'sqlite: needs a path, e.g. sqlite:./data/latchkey.db');
    return raw;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a valid URL: "${redactUrl(raw)}"`);
  }
  if (!['postgres:', 'postgresql:', 'mysql:', 'mariadb:'].includes(url.protocol)) {
    throw new ConfigError(name, `unsupported scheme "${url.protocol}" (use sqlite:, postgres:// or mysql://)`);
  }
  if (!url.hostname) throw new ConfigError(name, 'the URL names no host');
  return raw;
}

function redisConfig(read: (n: string) => string | undefined): RedisConfig | undefined {
  const password = passwordOf(read('REDIS_PASSWORD'));
  const port = integer(read, 'REDIS_PORT', 6379, 1, 65535);
  const cluster = read('REDIS_CLUSTER_NODES');
  if (cluster) return { kind: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', cluster), password };
  const sentinels = read('REDIS_SENTINELS');
  if (sentinels) {
    const name = read('REDIS_SENTINEL_NAME');
    if (!name) throw new ConfigError('REDIS_SENTINEL_NAME', 'required when REDIS_SENTINELS is set');
    return { kind: 'sentinel', sentinels: hostPorts('REDIS_SENTINELS', sentinels), name, password };
  }
  const url = read('REDIS_URL');
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('REDIS_URL', `not a valid URL: "${redactUrl(url)}"`);
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new ConfigError('REDIS_URL', `unsupported scheme "${parsed.protocol}" (use redis:// or rediss://)`);
    }
    if (!parsed.hostname) throw new ConfigError('REDIS_URL', 'the URL names no host');
    return { kind: 'url', url };
  }
  const host = read('REDIS_HOST');
  if (host) return { kind: 'host', host, port, password };
  return undefined;
}

function passwordOf(raw: string | undefined): string | undefined {
  return raw === undefined || raw === 'null' ? undefined : raw;
}

function hostPorts(name: string, raw: string): HostPort[] {
  return raw.split(',').map((part) => {
    const m = /^\s*([^\s:]+|\[[^\]]+\]):(\d{1,5})\s*$/.exec(part);
    if (!m || Number(m[2]) > 65535) throw new ConfigError(name, `expected host:port[,host:port…], got "${part.trim()}"`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
}

function tokenPrefix(raw: string): string {
  if (!/^[A-Za-z0-9_-]{0,32}$/.test(raw)) throw new ConfigError('TOKEN_PREFIX', 'use at most 32 of A-Z a-z 0-9 _ -');
  return raw;
}

/** Names Fastify's trustProxy (proxy-addr) accepts for common private ranges. */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function trustProxy(raw: string | undefined): TrustProxy {
  if (raw === undefined || raw.toLowerCase() === 'false') return false;
  if (raw.toLowerCase() === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of list) {
    if (!isProxyAddress(entry)) {
      throw new ConfigError('TRUST_PROXY', `expected true, false, a hop count or addresses/CIDRs, got "${entry}"`);
    }
  }
  return list;
}

function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

function hasher(raw: string | undefined): 'bcrypt' | 'argon2id' {
  if (raw === undefined) return 'bcrypt';
  if (raw === 'bcrypt' || raw === 'argon2id') return raw;
  throw new ConfigError('PASSWORD_HASHER', `unknown hasher "${raw}" (use bcrypt or argon2id)`);
}

function pruneSchedule(raw: string | undefined): string | null {
  if (raw === undefined) return '0 2 * * *';
  if (raw.toLowerCase() === 'off') return null;
  return raw; // validated by the scheduler with croner, which names the problem
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
function logLevel(raw: string | undefined): string {
  const level = (raw ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(level)) throw new ConfigError('LOG_LEVEL', `unknown level "${raw}" (use ${LOG_LEVELS.join(', ')})`);
  return level;
}

// ---- account recovery and email verification ----------------------------------------------

function recoveryConfig(read: (n: string) => string | undefined): RecoveryConfig {
  const templates = read('MAIL_TEMPLATES_DIR');
  if (templates !== undefined && !existsSync(templates)) throw new ConfigError('MAIL_TEMPLATES_DIR', `no such directory "${templates}"`);
  return {
    appUrl: appUrl(read('APP_URL') ?? 'http://localhost:3000'),
    appKey: appKey(read('APP_KEY')),
    mail: mailServer(read),
    mailFrom: { address: mailAddress(read('MAIL_FROM_ADDRESS') ?? 'latchkey@localhost'), name: read('MAIL_FROM_NAME') ?? 'latchkey' },
    mailTemplatesDir: templates,
    passwordResetExpireMinutes: integer(read, 'PASSWORD_RESET_EXPIRE', 60, 1, 10_080),
    passwordResetThrottleSeconds: integer(read, 'PASSWORD_RESET_THROTTLE', 60, 0, 86_400),
    requireVerifiedEmail: boolean(read, 'REQUIRE_VERIFIED_EMAIL', false),
    mailPollMs: integer(read, 'LATCHKEY_MAIL_POLL_MS', 5000, 10, MAX_TIMER_MS),
    mailRetryBaseMs: integer(read, 'LATCHKEY_MAIL_RETRY_MS', 5000, 10, MAX_TIMER_MS),
    mailMaxAttempts: integer(read, 'LATCHKEY_MAIL_MAX_ATTEMPTS', 10, 1, 100),
  };
}

function appUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('APP_URL', `not a valid URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('APP_URL', `use http:// or https://, got "${url.protocol}"`);
  // Kept as written (not re-serialised by URL): signed links must match Laravel's byte for byte.
  return raw.replace(/\/+$/, '');
}

/** Laravel's key: `base64:` and 16 or 32 bytes, or a raw string; used as the HMAC key as written. */
function appKey(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.startsWith('base64:')) {
    const bytes = Buffer.from(raw.slice(7), 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw.slice(7)) || (bytes.length !== 16 && bytes.length !== 32)) {
      throw new ConfigError('APP_KEY', 'base64: must be followed by 16 or 32 bytes in base64 (php artisan key:generate --show)');
    }
  } else if (raw.length < 16) {
    throw new ConfigError('APP_KEY', 'a raw key must be at least 16 characters');
  }
  return raw;
}

function mailAddress(raw: string): string {
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(raw)) throw new ConfigError('MAIL_FROM_ADDRESS', `not an email address: "${raw}"`);
  return raw;
}

/** MAIL_URL, else Laravel's MAIL_HOST and friends; neither: undefined (mail goes to the log). */
function mailServer(read: (n: string) => string | undefined): MailServerConfig | undefined {
  const url = read('MAIL_URL');
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('MAIL_URL', `not a valid URL: "${redactUrl(url)}"`);
    }
    if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') throw new ConfigError('MAIL_URL', `unsupported scheme "${parsed.protocol}" (use smtp:// or smtps://)`);
    if (!parsed.hostname) throw new ConfigError('MAIL_URL', 'the URL names no host');
    const secure = parsed.protocol === 'smtps:';
    return {
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
      secure,
      user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    };
  }
  const host = read('MAIL_HOST');
  if (host === undefined) return undefined;
  const encryption = read('MAIL_ENCRYPTION')?.toLowerCase();
  if (encryption !== undefined && !['ssl', 'tls', 'starttls', 'null'].includes(encryption)) {
    throw new ConfigError('MAIL_ENCRYPTION', `expected ssl, tls or null, got "${encryption}"`);
  }
  // Laravel: `ssl` (and port 465) is TLS from the start; `tls` negotiates STARTTLS.
  const port = integer(read, 'MAIL_PORT', encryption === 'ssl' ? 465 : 587, 1, 65535);
  return {
    host,
    port,
    secure: encryption === 'ssl' || (encryption === undefined && port === 465),
    user: passwordOf(read('MAIL_USERNAME')),
    password: passwordOf(read('MAIL_PASSWORD')),
  };
}

/** Hides the password of a connection URL in messages. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
