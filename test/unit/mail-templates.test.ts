// Mail templates (src/mail/templates.ts): built-in plain-text and HTML parts, parts replaced by
// files of MAIL_TEMPLATES_DIR, values escaped in HTML and kept on one line in subjects.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MailTemplates } from '../../src/mail/templates.js';

const values = { link: 'http://x.test/a?b=1&c=2', email: 'a@example.com', greeting_name: ' <Ada>', expire_minutes: '60' };

describe('mail templates', () => {
  test('the built-in mails carry the link in both parts, escaped in HTML', () => {
    const mail = new MailTemplates().render('password-reset', values);
    assert.equal(mail.subject, 'Reset your password');
    assert.ok(mail.text.includes('http://x.test/a?b=1&c=2'));
    assert.ok(mail.text.includes('Hello <Ada>,'));
    assert.ok(mail.html.includes('href="http://x.test/a?b=1&#38;c=2"'));
    assert.ok(mail.html.includes('Hello &#60;Ada&#62;,'));
  });

  test('files of the templates directory replace the parts they name; the others stay built in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-templates-'));
    try {
      writeFileSync(join(dir, 'verify-email.subject.txt'), 'Welcome, {{email}}\n');
      writeFileSync(join(dir, 'verify-email.txt'), 'Click {{link}} within {{expire_minutes}} min. {{unknown}}');
      const templates = new MailTemplates(dir);
      const mail = templates.render('verify-email', { ...values, email: 'a@example.com\r\nBcc: x@evil.test' });
      assert.equal(mail.subject, 'Welcome, a@example.com Bcc: x@evil.test', 'one line: no header injection');
      assert.equal(mail.text, 'Click http://x.test/a?b=1&c=2 within 60 min. {{unknown}}');
      assert.ok(mail.html.includes('Verify email address'), 'the HTML part is still the built-in one');
      assert.equal(templates.render('password-reset', values).subject, 'Reset your password');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
