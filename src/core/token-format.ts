// Sanctum 4 token format: `{id}|{prefix}{40 random [A-Za-z0-9]}{crc32b hex of those 40}`.
// The database keeps only the SHA-256 hex of the part after `|`.
import { hash, randomInt, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ENTROPY_LENGTH = 40;
/** Largest id any of the three databases can hold in a BIGINT column. */
const MAX_ID = 2n ** 63n - 1n;
/** Ids of up to this many digits are below MAX_ID and safe integers: no BigInt needed. */
const SAFE_ID_DIGITS = 15;
const ID_PATTERN = /^[1-9]\d{0,18}$/;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const ALPHANUMERIC = /^[A-Za-z0-9]+$/;
/** Secrets longer than this are never ours nor Laravel's (Sanctum's are 48 + prefix). */
const MAX_SECRET_LENGTH = 255;

export interface ParsedToken {
  /** Row id from the `{id}|` part, or null for a bare secret. */
  id: number | null;
  /** SHA-256 hex of the secret, as stored in `personal_access_tokens.token`. */
  hash: string;
}

export function sha256Hex(value: string): string {
  // The one-shot API: a quarter of createHash's cost, and this runs on every validation.
  return hash('sha256', value, 'hex');
}

/** Compares secrets (hashes, CSRF values, bearer keys) in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Random string from [A-Za-z0-9] using a CSPRNG without modulo bias. */
export function randomAlphanumeric(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

function crc32Hex(value: string): string {
  return crc32(value).toString(16).padStart(8, '0');
}

/** A new secret (the part after `|`), e.g. `lk_` + 40 chars + 8 hex chars of CRC32. */
export function newSecret(prefix: string): string {
  const entropy = randomAlphanumeric(ENTROPY_LENGTH);
  return `${prefix}${entropy}${crc32Hex(entropy)}`;
}

/** Reads presented tokens for one TOKEN_PREFIX; see tokenReader(). */
export interface TokenReader {
  /**
   * Everything parseToken checks except, for a token of the issued shape, its CRC32: null for
   * every other shape that cannot be valid.
   */
  parse(raw: string): ParsedToken | null;
  /** The CRC32 check that parse() left out; true for shapes parse() checked in full. */
  checksumValid(raw: string): boolean;
}

/**
 * A reader for tokens issued with `prefix`. Tokens of the shape latchkey issues,
 * `{id}|{prefix}{40}{crc}` with an id below 2^53, are recognised by one regular expression;
 * every other shape takes the general path of parseToken. The CRC32 is left to checksumValid():
 * a token found in the in-process tier needs none (its hash is that of an issued secret, whose
 * checksum is right by construction), so only a miss, before it reaches Redis or the database,
 * pays for it. parse() and checksumValid() together answer as parseToken does (unit tests).
 */
export function tokenReader(prefix: string): TokenReader {
  const general: TokenReader = { parse: (raw) => parseToken(raw, prefix), checksumValid: () => true };
  if (prefix === '') return general;
  // \w, with a separate look for `_`, rather than [A-Za-z0-9]: V8 matches \w from a table and a
  // class of several ranges char by char, so this is a third of the cost, on every request.
  const shape = new RegExp(`^[1-9]\\d{0,${SAFE_ID_DIGITS - 1}}\\|${escapeRegExp(prefix)}\\w{${ENTROPY_LENGTH}}[0-9a-f]{8}$`);
  const issued = (raw: string) => shape.test(raw) && !raw.includes('_', raw.length - ENTROPY_LENGTH - 8);
  return {
    parse(raw) {
      if (!issued(raw)) return general.parse(raw);
      const bar = raw.indexOf('|');
      return { id: Number(raw.slice(0, bar)), hash: sha256Hex(raw.slice(bar + 1)) };
    },
    checksumValid(raw) {
      if (!issued(raw)) return true;
      const entropyStart = raw.indexOf('|') + 1 + prefix.length;
      return crc32(raw.slice(entropyStart, entropyStart + ENTROPY_LENGTH)) === Number.parseInt(raw.slice(entropyStart + ENTROPY_LENGTH), 16);
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Parses a presented token without touching any store. Returns null for every shape that
 * cannot be a valid token: empty, wrong characters, bad id, or a prefixed secret whose
 * CRC32 does not match.
 */
export function parseToken(raw: string, prefix: string): ParsedToken | null {
  let id: number | null = null;
  let secret = raw;
  const bar = raw.indexOf('|');
  if (bar !== -1) {
    const idPart = raw.slice(0, bar);
    if (!ID_PATTERN.test(idPart) || (idPart.length > SAFE_ID_DIGITS && BigInt(idPart) > MAX_ID)) return null;
    id = Number(idPart);
    if (!Number.isSafeInteger(id)) return null;
    secret = raw.slice(bar + 1);
  }
  if (secret.length === 0 || secret.length > MAX_SECRET_LENGTH || !PRINTABLE_ASCII.test(secret)) return null;
  if (prefix !== '' && secret.startsWith(prefix)) {
    const body = secret.slice(prefix.length);
    if (body.length !== ENTROPY_LENGTH + 8) return null;
    const entropy = body.slice(0, ENTROPY_LENGTH);
    if (!ALPHANUMERIC.test(entropy) || crc32Hex(entropy) !== body.slice(ENTROPY_LENGTH)) return null;
  }
  return { id, hash: sha256Hex(secret) };
}
