// Where mails go: an SMTP server through nodemailer, or, with none configured, the log (the
// link included, so `npm start` works with no mail server).
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { MailServerConfig } from '../config.js';
import type { RenderedMail } from './templates.js';

export interface OutgoingMail extends RenderedMail {
  to: string;
}

export interface MailTransport {
  /** Resolves once the server accepted the mail; throws when it did not. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export function createMailTransport(server: MailServerConfig | undefined, from: { address: string; name: string }, logger: Logger): MailTransport {
  if (!server) {
    return {
      async send(mail) {
        logger.info({ event: 'mail_logged', to: mail.to, subject: mail.subject }, `Mail (no MAIL_URL or MAIL_HOST set, so it is only logged):\n${mail.text}`);
      },
      close() {},
    };
  }
  const transporter = nodemailer.createTransport({
    host: server.host,
    port: server.port,
    secure: server.secure,
    auth: server.user !== undefined ? { user: server.user, pass: server.password ?? '' } : undefined,
    // A dead server must fail a send within the outbox lease (src/mail/outbox.ts), never hang it.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(mail) {
      await transporter.sendMail({ from: { address: from.address, name: from.name }, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close() {
      transporter.close();
    },
  };
}
