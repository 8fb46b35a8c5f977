// pino: JSON lines by default, pretty on a terminal. Credentials never reach a log line:
// the request serializer keeps no headers but a few harmless ones, and the redact paths
// catch secrets that are logged on purpose elsewhere.
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-xsrf-token"]',
  'res.headers["set-cookie"]',
  'password',
  'current_password',
  'token',
  '*.password',
  '*.current_password',
  '*.token',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const pretty = destination === undefined && process.stdout.isTTY;
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'latchkey' },
  };
  if (pretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard' } } });
  return destination ? pino(options, destination) : pino(options);
}
