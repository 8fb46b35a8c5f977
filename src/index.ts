// `latchkey`: the core, for scripts and frameworks other than Fastify and Express
// (`latchkey/fastify`, `latchkey/express`).
export { embedLatchkey, LatchkeyStartError, type EmbedOptions, type EmbeddedLatchkey, type RequestAuth } from './embed/embedded.js';
export { openLatchkey, type Latchkey, type OpenOptions } from './latchkey.js';
export { ConfigError, loadConfig, parseConfig, type Config } from './config.js';
export { AppError } from './core/errors.js';
export type { AuthContext, User } from './core/types.js';
export type { Cookies, PresentedRequest } from './http/request-credentials.js';
export { errorResponseOf, type ErrorResponse } from './http/error-response.js';
export { createLogger } from './observability/logger.js';
