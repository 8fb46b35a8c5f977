// JSON shapes of docs/api.md §3 and the response schemas Fastify serialises them with.
import type { IssuedToken } from '../core/credentials.js';
import type { AuthContext, SessionRecord, TokenRecord, User } from '../core/types.js';
import { toIso } from '../store/time.js';

/**
 * ISO-8601 text of recent instants. /me formats the same created_at and expires_at of a token
 * on every request, and Date#toISOString is a large part of a warm request's cost; the map is
 * emptied when full, so it stays bounded.
 */
const isoText = new Map<number, string>();
const ISO_TEXT_LIMIT = 50_000;

/** ISO-8601 text of an instant (ms), or null. */
export function presentInstant(ms: number | null): string | null {
  if (ms === null) return null;
  let text = isoText.get(ms);
  if (text === undefined) {
    if (isoText.size >= ISO_TEXT_LIMIT) isoText.clear();
    text = toIso(ms)!;
    isoText.set(ms, text);
  }
  return text;
}

export function presentUser(user: User) {
  return { id: user.id, name: user.name, email: user.email, created_at: presentInstant(user.createdAt), email_verified_at: presentInstant(user.emailVerifiedAt) };
}

export function presentTokenResponse(issued: IssuedToken) {
  return { token: issued.plainText, token_type: 'Bearer', expires_at: presentInstant(issued.expiresAt), user: presentUser(issued.user) };
}

export function presentTokenInfo(token: TokenRecord, expiresAt: number | null, lastUsedAt: number | null, current: boolean) {
  return {
    id: token.id,
    name: token.name,
    abilities: token.abilities,
    created_at: presentInstant(token.createdAt),
    // Whole seconds (AuthService.lastUsedAt): busy tokens share the text of the current second.
    last_used_at: presentInstant(lastUsedAt),
    expires_at: presentInstant(expiresAt),
    current,
  };
}

export function presentSession(session: SessionRecord, ctx: AuthContext) {
  return {
    id: session.id,
    created_at: presentInstant(session.createdAt),
    last_active_at: presentInstant(session.lastActiveAt),
    ip: session.ip,
    user_agent: session.userAgent,
    current: ctx.session?.id === session.id,
  };
}

const nullableString = { type: ['string', 'null'] } as const;
const dateTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const userSchema = {
  type: 'object',
  required: ['id', 'name', 'email', 'created_at', 'email_verified_at'],
  properties: { id: { type: 'integer' }, name: nullableString, email: { type: 'string' }, created_at: dateTime, email_verified_at: dateTime },
} as const;

export const tokenResponseSchema = {
  type: 'object',
  required: ['token', 'token_type', 'expires_at', 'user'],
  properties: { token: { type: 'string' }, token_type: { type: 'string', enum: ['Bearer'] }, expires_at: dateTime, user: userSchema },
} as const;

export const tokenInfoSchema = {
  type: 'object',
  required: ['id', 'name', 'abilities', 'created_at', 'last_used_at', 'expires_at', 'current'],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    abilities: { type: 'array', items: { type: 'string' } },
    created_at: dateTime,
    last_used_at: dateTime,
    expires_at: dateTime,
    current: { type: 'boolean' },
  },
} as const;

export const sessionInfoSchema = {
  type: 'object',
  required: ['id', 'created_at', 'last_active_at', 'ip', 'user_agent', 'current'],
  properties: {
    id: { type: 'integer' },
    created_at: dateTime,
    last_active_at: dateTime,
    ip: nullableString,
    user_agent: nullableString,
    current: { type: 'boolean' },
  },
} as const;

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        fields: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
} as const;
