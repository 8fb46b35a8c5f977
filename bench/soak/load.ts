// The soak's steady mixed load: a fixed number of in-process clients (workers), each doing one
// request at a time with a short pause between, against both instances through the public HTTP
// API only. Each worker owns its accounts, so a validation never races a revocation of the same
// account by another worker: a live credential answered 401 is a real loss, and a revoked one
// answered 200 is judged against the time its revocation returned. Each revocation is probed at
// once on both instances, again on both just after the window, and later at random.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Ledger, REVOCATION_WINDOW_MS, type Answer, type Credential } from './ledger.js';

export interface Instance {
  name: string;
  base: string;
}

export interface LoadOptions {
  instances: Instance[];
  ledger: Ledger;
  workers: number;
  /** Pause after each request, per worker (what keeps the load steady rather than flat out). */
  pauseMs: number;
  /** The load stops when this aborts; requests in flight finish. */
  signal: AbortSignal;
}

/** A request with no answer within this is recorded as status 0. */
const REQUEST_TIMEOUT_MS = 15_000;
const PASSWORD_LENGTH = 16;
/** Accounts a worker keeps using; a registration replaces the oldest. */
const ACCOUNTS_PER_WORKER = 2;
const TOKENS_PER_ACCOUNT = 4;

/** Relative weights of the operations; a validation picks a revoked credential 1 time in 4. */
const WEIGHTS = {
  validate: 60,
  register: 4,
  login: 4,
  sessionLogin: 4,
  createToken: 8,
  deleteToken: 6,
  logout: 3,
  sessionLogout: 2,
  changePassword: 2,
} as const;
type Operation = keyof typeof WEIGHTS;

export async function runLoad(options: LoadOptions): Promise<void> {
  const revoked: Credential[] = [];
  await Promise.all(Array.from({ length: options.workers }, (_, i) => new Worker(i, options, revoked).run()));
}

interface Account {
  email: string;
  password: string;
  userId: number;
  tokens: Credential[];
  sessions: { credential: Credential; xsrf: string }[];
}

interface Reply {
  answer: Answer;
  body: any;
  cookies: Record<string, string>;
}

class Worker {
  private accounts: Account[] = [];
  /** Revoked credentials to probe on every instance once the window has passed. */
  private readonly due: Credential[] = [];
  private registrations = 0;

  constructor(
    private readonly index: number,
    private readonly options: LoadOptions,
    /** Shared by all workers: any revoked credential may be probed by anyone. */
    private readonly revoked: Credential[],
  ) {}

  async run(): Promise<void> {
    const { signal, pauseMs } = this.options;
    while (!signal.aborted) {
      await this.step();
      await sleep(pauseMs);
    }
  }

  private async step(): Promise<void> {
    const now = performance.now();
    const ready = this.due.findIndex((c) => c.revokedAt! + REVOCATION_WINDOW_MS + 5 <= now);
    if (ready >= 0) {
      const [credential] = this.due.splice(ready, 1);
      for (const instance of this.options.instances) await this.probeRevoked(credential!, instance);
      return;
    }
    if (this.accounts.length === 0) return this.register();
    const account = pick(this.accounts);
    const op = pickWeighted(WEIGHTS);
    switch (op) {
      case 'validate':
        if (this.revoked.length > 0 && Math.random() < 0.25) return this.probeRevoked(pick(this.revoked.slice(-500)), this.instance());
        return this.validate(account);
      case 'register':
        return this.register();
      case 'login':
        return this.login(account);
      case 'sessionLogin':
        return this.sessionLogin(account);
      case 'createToken':
        if (account.tokens.length >= TOKENS_PER_ACCOUNT) return this.deleteToken(account);
        return this.withToken(account, (token) => this.createToken(account, token));
      case 'deleteToken':
        return this.deleteToken(account);
      case 'logout':
        return this.withToken(account, (token) => this.logout(account, token));
      case 'sessionLogout':
        if (account.sessions.length === 0) return this.sessionLogin(account);
        return this.sessionLogout(account);
      case 'changePassword':
        return this.withToken(account, (token) => this.changePassword(account, token));
    }
  }

  private instance(): Instance {
    return pick(this.options.instances);
  }

  /** Runs `work` with one of the account's tokens, logging in first when it has none. */
  private withToken(account: Account, work: (token: Credential) => Promise<void>): Promise<void> {
    return account.tokens.length > 0 ? work(pick(account.tokens)) : this.login(account);
  }

  private async validate(account: Account): Promise<void> {
    const live = [...account.tokens.map((t) => ({ credential: t, session: false })), ...account.sessions.map((s) => ({ credential: s.credential, session: true }))];
    if (live.length === 0) return this.login(account);
    const { credential, session } = pick(live);
    const instance = this.instance();
    const path = session || Math.random() < 0.5 ? '/api/auth/me' : '/api/auth/verify';
    const reply = await this.call(`validate ${session ? 'session' : 'token'} ${path.slice(10)}`, instance, 'GET', path, session ? { cookies: { latchkey_session: credential.value } } : { token: credential.value });
    // Only this worker revokes this account's credentials, one request at a time: a 401 here is a loss.
    if (reply.answer.status === 401) this.options.ledger.liveRefused.push({ credential, answer: reply.answer });
  }

  private async probeRevoked(credential: Credential, instance: Instance): Promise<void> {
    const session = credential.kind === 'session';
    const reply = await this.call(`probe revoked ${credential.kind}`, instance, 'GET', session ? '/api/auth/me' : '/api/auth/verify', session ? { cookies: { latchkey_session: credential.value } } : { token: credential.value });
    this.options.ledger.probedRevoked(credential, reply.answer, reply.answer.status === 200);
  }

  private async register(): Promise<void> {
    const email = `soak-${this.index}-${++this.registrations}-${randomBytes(3).toString('hex')}@example.com`;
    const password = randomBytes(PASSWORD_LENGTH).toString('base64url');
    // Each registration from a client address of its own (TRUST_PROXY is on): a soak of many
    // users, not one address registering over and over into a per-address limit.
    const headers = { 'x-forwarded-for': `10.${this.index}.${(this.registrations >> 8) & 255}.${this.registrations & 255}` };
    const reply = await this.call('register', this.instance(), 'POST', '/api/auth/register', { body: { email, password, name: 'Soak' }, headers });
    if (reply.answer.status !== 201) return;
    const userId = reply.body.user.id as number;
    this.options.ledger.users.push({ id: userId, email });
    const account: Account = { email, password, userId, tokens: [this.options.ledger.acknowledge('token', reply.body.token, userId)], sessions: [] };
    this.accounts.push(account);
    if (this.accounts.length > ACCOUNTS_PER_WORKER) this.accounts.shift();
  }

  /** A login revokes every earlier token and session of the user (LOGIN_REVOKES_OTHER_TOKENS). */
  private async login(account: Account): Promise<void> {
    const reply = await this.call('login', this.instance(), 'POST', '/api/auth/login', { body: { email: account.email, password: account.password } });
    if (!(await this.settleAll(account, reply, 200))) return;
    account.tokens.push(this.options.ledger.acknowledge('token', reply.body.token, account.userId));
  }

  private async sessionLogin(account: Account): Promise<void> {
    const instance = this.instance();
    const csrf = await this.call('csrf-cookie', instance, 'GET', '/api/auth/csrf-cookie');
    const xsrf = csrf.cookies['XSRF-TOKEN'];
    if (!xsrf) return;
    const reply = await this.call('session login', instance, 'POST', '/api/auth/session', {
      body: { email: account.email, password: account.password },
      headers: { 'x-xsrf-token': xsrf },
      cookies: { 'XSRF-TOKEN': xsrf },
    });
    if (!(await this.settleAll(account, reply, 200))) return;
    const value = reply.cookies.latchkey_session;
    if (!value) throw new Error('session login answered 200 without a latchkey_session cookie');
    account.sessions.push({ credential: this.options.ledger.acknowledge('session', value, account.userId), xsrf });
  }

  private async sessionLogout(account: Account): Promise<void> {
    const session = pick(account.sessions);
    const reply = await this.call('session logout', this.instance(), 'DELETE', '/api/auth/session', {
      headers: { 'x-xsrf-token': session.xsrf },
      cookies: { latchkey_session: session.credential.value, 'XSRF-TOKEN': session.xsrf },
    });
    account.sessions = account.sessions.filter((s) => s !== session);
    await this.settle([session.credential], reply, 204);
  }

  private async createToken(account: Account, token: Credential): Promise<void> {
    const reply = await this.call('create token', this.instance(), 'POST', '/api/auth/tokens', { token: token.value, body: { name: 'soak', abilities: ['*'] } });
    if (reply.answer.status === 201) account.tokens.push(this.options.ledger.acknowledge('token', reply.body.token, account.userId));
  }

  private async deleteToken(account: Account): Promise<void> {
    if (account.tokens.length === 0) return this.login(account);
    const target = pick(account.tokens);
    const using = pick(account.tokens);
    const reply = await this.call('delete token', this.instance(), 'DELETE', `/api/auth/tokens/${target.value.split('|')[0]}`, { token: using.value });
    account.tokens = account.tokens.filter((t) => t !== target);
    await this.settle([target], reply, 204);
  }

  private async logout(account: Account, token: Credential): Promise<void> {
    const reply = await this.call('logout', this.instance(), 'POST', '/api/auth/logout', { token: token.value });
    account.tokens = account.tokens.filter((t) => t !== token);
    await this.settle([token], reply, 204);
  }

  /** Revokes every token and session of the user and answers a fresh token. */
  private async changePassword(account: Account, token: Credential): Promise<void> {
    const password = randomBytes(PASSWORD_LENGTH).toString('base64url');
    const reply = await this.call('change password', this.instance(), 'PUT', '/api/auth/password', { token: token.value, body: { current_password: account.password, password } });
    if (!(await this.settleAll(account, reply, 200))) {
      // Whether the password changed is not known (or, after a 429, the account rests).
      this.accounts = this.accounts.filter((a) => a !== account);
      return;
    }
    account.password = password;
    account.tokens.push(this.options.ledger.acknowledge('token', reply.body.token, account.userId));
  }

  /** After a request that revokes all of the account's credentials; true when it succeeded. */
  private async settleAll(account: Account, reply: Reply, expected: number): Promise<boolean> {
    if (this.refused(account, reply)) return false;
    const all = [...account.tokens, ...account.sessions.map((s) => s.credential)];
    account.tokens = [];
    account.sessions = [];
    return this.settle(all, reply, expected);
  }

  /**
   * 429 (the login rate limit, which also counts attempts that failed with 503) changed nothing:
   * the account's credentials stay live, and the account rests, no longer used by this worker.
   */
  private refused(account: Account, reply: Reply): boolean {
    if (reply.answer.status !== 429) return false;
    this.accounts = this.accounts.filter((a) => a !== account);
    return true;
  }

  /**
   * Records the fate of credentials a request meant to revoke: revoked when it answered
   * `expected`, else unknown (a failed request may or may not have been written), and no
   * longer used either way.
   */
  private async settle(credentials: Credential[], reply: Reply, expected: number): Promise<boolean> {
    const ok = reply.answer.status === expected;
    for (const credential of credentials) {
      if (!ok) {
        credential.state = 'unknown';
        continue;
      }
      this.options.ledger.revoked(credential, reply.answer);
      this.revoked.push(credential);
      this.due.push(credential);
    }
    // At once, one of them on every instance: the one that revoked must refuse it already, the
    // others may still accept it within the window.
    if (ok && credentials.length > 0) {
      const credential = pick(credentials);
      for (const instance of this.options.instances) await this.probeRevoked(credential, instance);
    }
    return ok;
  }

  private async call(
    op: string,
    instance: Instance,
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string>; cookies?: Record<string, string> } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.cookies) headers.cookie = Object.entries(options.cookies).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('; ');
    const sentAt = performance.now();
    let reply: Reply;
    try {
      const response = await fetch(instance.base + path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      const body = text && (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
      const answer: Answer = { op, instance: instance.name, status: response.status, code: body?.error?.code, sentAt, doneAt: performance.now() };
      reply = { answer, body, cookies: cookiesOf(response) };
    } catch (error) {
      const answer: Answer = { op, instance: instance.name, status: 0, code: String((error as Error).cause ?? error), sentAt, doneAt: performance.now() };
      reply = { answer, body: undefined, cookies: {} };
    }
    this.options.ledger.record(reply.answer);
    return reply;
  }
}

function cookiesOf(response: Response): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0]!;
    const eq = pair.indexOf('=');
    if (eq > 0) cookies[pair.slice(0, eq)] = decodeURIComponent(pair.slice(eq + 1));
  }
  return cookies;
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function pickWeighted(weights: Record<Operation, number>): Operation {
  const entries = Object.entries(weights) as [Operation, number][];
  let roll = Math.random() * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [op, weight] of entries) if ((roll -= weight) < 0) return op;
  return entries[0]![0];
}
