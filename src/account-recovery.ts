// Wiring of account recovery and email verification (docs/recovery.md), kept out of the
// composition root (./latchkey.ts) that builds it with the rest. The revocation a password
// reset needs is the credentials module's: revokeUser below, injected into PasswordRecovery.
import type { Logger } from 'pino';
import type { CredentialCache } from './cache/credential-cache.js';
import { RateLimiter } from './cache/rate-limiter.js';
import type { Config } from './config.js';
import { EmailVerification } from './core/email-verification.js';
import type { PasswordHasher } from './core/passwords.js';
import { PasswordRecovery } from './core/recovery.js';
import type { UserCreatedHook } from './core/store.js';
import { enqueueMail, MailOutbox } from './mail/outbox.js';
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
  onUserCreated: { write: UserCreatedHook; committed: () => void };
  close(): Promise<void>;
}

export function openAccountRecovery(
  config: Config,
  deps: { store: SqlStore; cache: CredentialCache; hasher: PasswordHasher; metrics: Metrics; logger: Logger; instanceId: string; sendsMail: boolean },
): AccountRecovery {
  const { store, cache, logger } = deps;
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
    perAddress: new RateLimiter(FORGOT_PER_ADDRESS, cache.redis, 'forgot'),
    perIp: new RateLimiter(RECOVERY_PER_IP, cache.redis, 'recovery-ip'),
    resend: new RateLimiter(RESEND_PER_USER, cache.redis, 'verify-mail'),
  };
  const mailQueued = () => outbox.kick();
  const verification: EmailVerification = new EmailVerification(settings, config.cacheTtlSeconds * 1000, () => sharedAppKey(store.db, settings.appKey), store, recoveryStore, limiters.resend, mailQueued);
  const recovery = new PasswordRecovery({
    config: settings,
    passwordMinLength: config.passwordMinLength,
    store,
    recovery: recoveryStore,
    hasher: deps.hasher,
    limits: limiters,
    // The credentials module's revocation: rows first, then every cache tier of every instance.
    revokeUser: async (userId) => cache.forget(await store.revokeUser(userId)),
    mailQueued,
  });
  // A process that serves no requests (the CLI) records mails; the servers send them.
  if (deps.sendsMail) outbox.start();
  return {
    recovery,
    verification,
    outbox,
    onUserCreated: { write: (trx, user) => enqueueMail(trx, verification.mail(user)), committed: mailQueued },
    async close() {
      await outbox.close();
      for (const limiter of Object.values(limiters)) limiter.close();
    },
  };
}
