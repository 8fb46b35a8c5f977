// Wiring of account recovery and email verification (docs/recovery.md), kept out of the
// composition root (./latchkey.ts) that builds it with the rest. A password reset's revocation is
// the credentials module's (Credentials.resetPassword), injected into PasswordRecovery.
import type { Logger } from 'pino';
import { RateLimiter, type SharedCounters } from './cache/rate-limiter.js';
import type { Config } from './config.js';
import type { Credentials } from './core/credentials.js';
import { EmailVerification } from './core/email-verification.js';
import type { PasswordHasher } from './core/passwords.js';
import { PasswordRecovery } from './core/recovery.js';
import type { OutgoingMail } from './core/ports.js';
import type { User } from './core/types.js';
import { MailOutbox } from './mail/outbox.js';
import { MailTemplates } from './mail/templates.js';
import { createMailTransport } from './mail/transport.js';
import type { Metrics } from './observability/metrics.js';
import { RecoveryStore } from './store/recovery-store.js';
import { sharedAppKey } from './store/settings.js';
import type { SqlStore } from './store/sql-store.js';

/** Forgot-password requests per minute per (email, IP), and per IP whatever the email. */
export const FORGOT_PER_ADDRESS = 5;
export const RECOVERY_PER_IP = 20;
/** Verification mails a signed-in user may ask for per minute. */
export const RESEND_PER_USER = 3;

export interface AccountRecovery {
  recovery: PasswordRecovery;
  verification: EmailVerification;
  outbox: MailOutbox;
  /** Accounts' onRegistered: the verification mail recorded with a new user, sent once committed. */
  onRegistered: { mail: (user: User) => OutgoingMail; committed: () => void };
  close(): Promise<void>;
}

export function openAccountRecovery(
  config: Config,
  deps: {
    store: SqlStore;
    /** The counters the rate limits share across instances (Redis), as login's. */
    sharedCounters: SharedCounters | undefined;
    credentials: Credentials;
    hasher: PasswordHasher;
    metrics: Metrics;
    logger: Logger;
    instanceId: string;
    sendsMail: boolean;
  },
): AccountRecovery {
  const { store, sharedCounters, logger } = deps;
  const settings = config.recovery;
  const recoveryStore = new RecoveryStore(store.db);
  const transport = createMailTransport(settings.mail, settings.mailFrom, logger);
  const outbox = new MailOutbox(store.db, transport, new MailTemplates(settings.mailTemplatesDir), deps.metrics, logger, {
    instanceId: deps.instanceId,
    pollMs: settings.mailPollMs,
    retryBaseMs: settings.mailRetryBaseMs,
    maxAttempts: settings.mailMaxAttempts,
    complete: async (template, values) => (template === 'verify-email' ? verification.withLink(values) : values),
  });
  const limiters = {
    perAddress: new RateLimiter(FORGOT_PER_ADDRESS, sharedCounters, 'forgot'),
    perIp: new RateLimiter(RECOVERY_PER_IP, sharedCounters, 'recovery-ip'),
    resend: new RateLimiter(RESEND_PER_USER, sharedCounters, 'verify-mail'),
  };
  // A process that serves no requests (the CLI) records mails; the servers send them.
  const mailQueued = () => {
    if (deps.sendsMail) outbox.kick();
  };
  const verification: EmailVerification = new EmailVerification(settings, config.cacheTtlSeconds * 1000, () => sharedAppKey(store.db, settings.appKey), store.users, recoveryStore, limiters.resend, mailQueued);
  const recovery = new PasswordRecovery({
    config: settings,
    passwordMinLength: config.passwordMinLength,
    users: store.users,
    recovery: recoveryStore,
    hasher: deps.hasher,
    limits: limiters,
    credentials: deps.credentials,
    mailQueued,
  });
  if (deps.sendsMail) outbox.start();
  return {
    recovery,
    verification,
    outbox,
    onRegistered: { mail: (user) => verification.mail(user), committed: mailQueued },
    async close() {
      await outbox.close();
      for (const limiter of Object.values(limiters)) limiter.close();
    },
  };
}
