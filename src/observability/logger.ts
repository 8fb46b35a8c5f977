// pino: JSON lines by default, pretty on a terminal. Credentials never reach a log line: the
// access log (./access-log.ts) writes no headers, bodies or query strings, and the redact
// paths below are a second line of defence for objects logged whole elsewhere.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  // Headers, wherever a request or response object is logged whole.
  ...['req.headers', 'request.headers', 'headers'].flatMap((h) => [`${h}.authorization`, `${h}.cookie`, `${h}["x-xsrf-token"]`]),
  ...['res.headers', 'reply.headers', 'headers'].map((h) => `${h}["set-cookie"]`),
  // Fields that hold secrets in the core's own objects (bodies, issued tokens and sessions).
  ...['password', 'current_password', 'token', 'plainText', 'secret', 'cookies'].flatMap((field) => [field, `*.${field}`]),
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const pretty = destination === undefined && process.stdout.isTTY;
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'latchkey' },
  };
  if (pretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } });
  // Asynchronous writes to stdout: a line is appended to a buffer and written by the event loop,
  // and lines that come while a write is under way go out together in the next one (one write
  // per burst rather than one per access-log line, under load). Nothing waits for a full buffer,
  // so a quiet server's lines appear at once; pino flushes what is left when the process exits.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
