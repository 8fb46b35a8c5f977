// How emails are compared everywhere (login, register, rate limits, CLI): trimmed and
// lower-cased, so mixed-case emails that Laravel stored still match.
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
