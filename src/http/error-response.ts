// The error answers of docs/api.md §3.2 as plain data, for the server's Fastify error handler and for
// the embedded middleware, which write them with their own frameworks.
import { AppError } from '../core/errors.js';
import { isUnavailable } from '../store/failures.js';

export function errorBody(code: string, message: string, fields?: Record<string, string>) {
  return { error: fields ? { code, message, fields } : { code, message } };
}

export interface ErrorResponse {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: ReturnType<typeof errorBody>;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A user-caused error or an unreachable database as the server answers it; undefined for a bug. */
export function errorResponseOf(error: unknown): ErrorResponse | undefined {
  if (error instanceof AppError) return { status: error.status, headers: error.headers ?? NO_HEADERS, body: errorBody(error.code, error.message, error.fields) };
  if (isUnavailable(error)) return { status: 503, headers: NO_HEADERS, body: errorBody('unavailable', 'The database is unavailable. Try again shortly.') };
  return undefined;
}
