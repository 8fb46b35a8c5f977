// The mails latchkey sends, as plain-text and HTML templates with {{placeholders}}. Each part can
// be replaced by a file of MAIL_TEMPLATES_DIR: `<template>.subject.txt`, `<template>.txt`,
// `<template>.html` (docs/recovery.md). Values are HTML-escaped in the HTML part.
import type { OutgoingMail } from '../core/ports.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type TemplateName = OutgoingMail['template'];
export type TemplateValues = Record<string, string>;

interface Parts {
  subject: string;
  text: string;
  html: string;
}

const BUILT_IN: Record<TemplateName, Parts> = {
  'password-reset': {
    subject: 'Reset your password',
    text: `Hello{{greeting_name}},

You are receiving this email because we received a password reset request for {{email}}.

Reset your password: {{link}}

This link expires in {{expire_minutes}} minutes. If you did not ask for it, ignore this mail: your password stays as it is.
`,
    html: `<!doctype html>
<html><body style="font-family: sans-serif">
<p>Hello{{greeting_name}},</p>
<p>You are receiving this email because we received a password reset request for {{email}}.</p>
<p><a href="{{link}}">Reset your password</a></p>
<p>This link expires in {{expire_minutes}} minutes. If you did not ask for it, ignore this mail: your password stays as it is.</p>
</body></html>
`,
  },
  'verify-email': {
    subject: 'Verify your email address',
    text: `Hello{{greeting_name}},

Please confirm that {{email}} is your email address: {{link}}

This link expires in {{expire_minutes}} minutes. If you did not create an account, ignore this mail.
`,
    html: `<!doctype html>
<html><body style="font-family: sans-serif">
<p>Hello{{greeting_name}},</p>
<p>Please confirm that {{email}} is your email address.</p>
<p><a href="{{link}}">Verify email address</a></p>
<p>This link expires in {{expire_minutes}} minutes. If you did not create an account, ignore this mail.</p>
</body></html>
`,
  },
};

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export class MailTemplates {
  private readonly parts: Record<TemplateName, Parts>;

  /** Reads the overrides once, at start: a missing or unreadable file is the built-in part. */
  constructor(directory?: string) {
    const read = (file: string, fallback: string) => {
      const path = directory && join(directory, file);
      return path && existsSync(path) ? readFileSync(path, 'utf8') : fallback;
    };
    this.parts = Object.fromEntries(
      (Object.keys(BUILT_IN) as TemplateName[]).map((name) => {
        const builtIn = BUILT_IN[name];
        return [name, { subject: read(`${name}.subject.txt`, builtIn.subject).trim(), text: read(`${name}.txt`, builtIn.text), html: read(`${name}.html`, builtIn.html) }];
      }),
    ) as Record<TemplateName, Parts>;
  }

  render(name: TemplateName, values: TemplateValues): RenderedMail {
    const parts = this.parts[name];
    return {
      subject: fill(parts.subject, values, (v) => v.replace(/[\r\n]+/g, ' ')),
      text: fill(parts.text, values, (v) => v),
      html: fill(parts.html, values, escapeHtml),
    };
  }

  static isTemplate(name: string): name is TemplateName {
    return Object.hasOwn(BUILT_IN, name);
  }
}

function fill(template: string, values: TemplateValues, escape: (v: string) => string): string {
  return template.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (whole, key: string) => (Object.hasOwn(values, key) ? escape(values[key]!) : whole));
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
