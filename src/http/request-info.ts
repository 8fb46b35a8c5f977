// What routes read off a request besides its credential.
import type { FastifyRequest } from 'fastify';
import type { ClientInfo } from '../core/credentials.js';
import { notFound } from '../core/errors.js';

export function clientOf(request: FastifyRequest): ClientInfo {
  const agent = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}

/** Route ids are positive decimal integers; anything else cannot name a row (404). */
export function routeId(request: FastifyRequest): number {
  const raw = (request.params as { id?: string }).id ?? '';
  const id = /^[1-9]\d{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id)) throw notFound();
  return id;
}
