// No mail is lost: a mail is a row of latchkey_mail_outbox, written in the same transaction as
// what it tells about (a reset row, a new user), and sent afterwards by the worker below, which
// every instance runs. A row is claimed with a compare-and-set UPDATE that takes a lease, so one
// instance sends it; it is deleted once the server accepted it, or retried with backoff.
// A process that dies between the server's acceptance and the DELETE leaves the row to be sent
// again after its lease: at most that one repeat, never a loss.
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { OutgoingMail } from '../core/ports.js';
import type { Metrics } from '../observability/metrics.js';
import type { Database } from '../store/schema.js';
import { toSqlTime } from '../store/time.js';
import type { MailTransport } from './transport.js';
import { MailTemplates, type TemplateName, type TemplateValues } from './templates.js';

type Executor = Kysely<Database> | Transaction<Database>;

export type QueuedMail = OutgoingMail;

/** Records a mail to send; call it inside the transaction that makes the mail true. */
export async function enqueueMail(trx: Executor, mail: QueuedMail, now = Date.now()): Promise<void> {
  const at = toSqlTime(now);
  await trx
    .insertInto('latchkey_mail_outbox')
    .values({
      template: mail.template,
      recipient: mail.to,
      payload: JSON.stringify(mail.values),
      attempts: 0,
      next_attempt_at: at,
      lease_holder: null,
      lease_until: null,
      failed_at: null,
      last_error: null,
      created_at: at,
    })
    .execute();
}

export interface OutboxOptions {
  instanceId: string;
  /** How often idle instances look for due mails (a local enqueue wakes the worker at once). */
  pollMs: number;
  /** First retry delay; doubled on each failure up to MAX_RETRY_DELAY_MS. */
  retryBaseMs: number;
  maxAttempts: number;
  /**
   * Adds what is made at send time to a row's values: a verification mail's signed link, made
   * outside the transaction that recorded the mail and expiring from when it is sent.
   */
  complete?: (template: TemplateName, values: TemplateValues) => Promise<TemplateValues>;
}

/** Longer than any send may take (see the transport's timeouts), so no lease runs out mid-send. */
const LEASE_MS = 60_000;
const MAX_RETRY_DELAY_MS = 15 * 60_000;
const BATCH = 20;

export class MailOutbox {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly transport: MailTransport,
    private readonly templates: MailTemplates,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly options: OutboxOptions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Sends what is due now, without waiting for the next poll (after a local enqueue). */
  kick(): void {
    if (this.closed) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  /** Resolves when the current pass is over (tests wait on this to see a mail leave). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.drain();
    this.transport.close();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((error) => this.logger.warn({ event: 'mail_outbox_failed', err: String(error) }, 'Could not read the mail outbox; will try again'))
        .finally(() => {
          this.running = undefined;
          if (this.closed) return;
          const more = this.again;
          this.again = false;
          this.schedule(more ? 0 : this.options.pollMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  /** One pass: claim due rows one by one and send them, until none is due. */
  private async pass(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const due = await this.db
        .selectFrom('latchkey_mail_outbox')
        .select('id')
        .where('next_attempt_at', '<=', toSqlTime(now))
        .where('failed_at', 'is', null)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', toSqlTime(now))]))
        .orderBy('id')
        .limit(BATCH)
        .execute();
      if (due.length === 0) return;
      for (const { id } of due) {
        if (this.closed) return;
        if (await this.claim(Number(id), now)) await this.deliver(Number(id));
      }
    }
  }

  /** Compare-and-set: true when this instance took the lease (no other one holds a live one). */
  private async claim(id: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('latchkey_mail_outbox')
      .set({ lease_holder: this.options.instanceId, lease_until: toSqlTime(now + LEASE_MS) })
      .where('id', '=', id)
      .where('failed_at', 'is', null)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', toSqlTime(now))]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  private async deliver(id: number): Promise<void> {
    const row = await this.db.selectFrom('latchkey_mail_outbox').selectAll().where('id', '=', id).where('lease_holder', '=', this.options.instanceId).executeTakeFirst();
    if (!row) return;
    try {
      if (!MailTemplates.isTemplate(row.template)) throw new Error(`unknown template "${row.template}"`);
      const stored = JSON.parse(row.payload) as TemplateValues;
      const values = this.options.complete ? await this.options.complete(row.template, stored) : stored;
      const rendered = this.templates.render(row.template, values);
      await this.transport.send({ to: row.recipient, ...rendered });
    } catch (error) {
      await this.failed(row.id, row.attempts + 1, error);
      return;
    }
    // The link inside is a secret: the row goes as soon as the server has the mail.
    await this.db.deleteFrom('latchkey_mail_outbox').where('id', '=', row.id).where('lease_holder', '=', this.options.instanceId).execute();
    this.metrics.mails.inc({ outcome: 'sent' });
    this.logger.info({ event: 'mail_sent', template: row.template, attempts: row.attempts + 1 }, 'Mail sent');
  }

  private async failed(id: number, attempts: number, error: unknown): Promise<void> {
    const now = Date.now();
    const message = String((error as Error)?.message ?? error).slice(0, 1000);
    if (attempts >= this.options.maxAttempts) {
      await this.db
        .updateTable('latchkey_mail_outbox')
        .set({ attempts, failed_at: toSqlTime(now), payload: '{}', lease_holder: null, lease_until: null, last_error: message })
        .where('id', '=', id)
        .execute();
      this.metrics.mails.inc({ outcome: 'failed' });
      this.logger.error({ event: 'mail_failed', attempts, err: message }, 'Mail given up after its last attempt');
      return;
    }
    const delay = Math.min(MAX_RETRY_DELAY_MS, this.options.retryBaseMs * 2 ** (attempts - 1));
    await this.db
      .updateTable('latchkey_mail_outbox')
      .set({ attempts, next_attempt_at: toSqlTime(now + delay), lease_holder: null, lease_until: null, last_error: message })
      .where('id', '=', id)
      .execute();
    this.metrics.mails.inc({ outcome: 'retried' });
    this.logger.warn({ event: 'mail_retry', attempts, retryInMs: delay, err: message }, 'Mail not sent; will retry');
  }
}
