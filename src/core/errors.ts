// Errors the user can cause, each with its HTTP status and the stable code of docs/api.md §3.

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const unauthenticated = () =>
  new AppError(401, 'unauthenticated', 'Missing, invalid, expired or revoked credentials.', undefined, { 'WWW-Authenticate': 'Bearer' });
export const invalidCredentials = () => new AppError(401, 'invalid_credentials', 'The email or password is incorrect.');
export const forbidden = (ability: string) => new AppError(403, 'forbidden', `This token lacks the "${ability}" ability.`);
export const csrfMismatch = () => new AppError(403, 'csrf_mismatch', 'The X-XSRF-TOKEN header must match the XSRF-TOKEN cookie.');
export const notFound = (what = 'Not found.') => new AppError(404, 'not_found', what);
export const emailTaken = () => new AppError(409, 'email_taken', 'An account with this email already exists.');
export const validationFailed = (fields: Record<string, string>) =>
  new AppError(422, 'validation_failed', 'Some fields are missing or invalid.', fields);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new AppError(429, 'too_many_requests', `Too many attempts. Try again in ${retryAfterSeconds} seconds.`, undefined, {
    'Retry-After': String(retryAfterSeconds),
  });

/** The database could not be reached or did not answer; the operation did nothing. */
export class UnavailableError extends AppError {
  constructor(readonly causeError?: unknown) {
    super(503, 'unavailable', 'The database is unavailable. Try again shortly.');
    this.name = 'UnavailableError';
  }
}

/** More password hashes are waiting than PASSWORD_HASH_QUEUE allows: refused at once, not queued. */
export const hashingBusy = () =>
  new AppError(503, 'unavailable', 'The server is busy hashing passwords. Try again in a second.', undefined, { 'Retry-After': '1' });

export class EmailTakenError extends Error {
  constructor() {
    super('email taken');
    this.name = 'EmailTakenError';
  }
}

// ---- account recovery and email verification (docs/recovery.md) ----------------------------

export const invalidResetToken = () => new AppError(422, 'invalid_reset_token', 'This password reset link is invalid, used or expired. Ask for a new one.');
export const invalidSignature = () => new AppError(403, 'invalid_signature', 'This verification link is invalid or expired. Ask for a new one.');
export const emailUnverified = () => new AppError(403, 'email_unverified', 'Verify your email address first.');

/** A reset link's row was spent (or replaced) between its check and the reset's transaction. */
export class ResetLinkSpentError extends Error {
  constructor() {
    super('password reset link already spent');
    this.name = 'ResetLinkSpentError';
  }
}
