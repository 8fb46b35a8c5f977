// The latchkey account page, and the reference client for browser apps (SPAs) that use
// latchkey's cookie sessions (docs/api.md §4, Sanctum's SPA mode). What a SPA needs is the
// "API client" section below; the rest is this page's own interface.
//
//   1. GET api/auth/csrf-cookie: sets the XSRF-TOKEN cookie, which scripts may read.
//   2. Every request that changes state (any method but GET, HEAD, OPTIONS), the session login
//      included, carries header X-XSRF-TOKEN with that cookie's value. A page on another site
//      can make the browser send our cookies but can neither read XSRF-TOKEN nor set the header,
//      so latchkey refuses its requests (403 csrf_mismatch).
//   3. POST api/auth/session {email, password} sets the session cookie. It is HttpOnly: this
//      script never sees it, and no bearer token is ever kept in script-readable storage.
//   4. Requests go out with the browser's cookies (same origin), nothing else to add.
//   5. 401 means the session is over (signed out elsewhere, idle for SESSION_LIFETIME, password
//      changed on another device): show the sign-in form again.
//
// URLs are relative to this page (/account), so it also works under a path prefix behind a
// reverse proxy. No framework, no build step, nothing loaded from elsewhere.

// ---- API client --------------------------------------------------------------------------

const API = 'api/auth/';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super(error?.message ?? `The server answered ${status}.`);
    this.status = status;
    this.code = error?.code ?? 'unknown';
    this.fields = error?.fields ?? {};
    this.retryAfter = retryAfter;
  }
}

function readCookie(name) {
  const pair = document.cookie.split('; ').find((part) => part.startsWith(`${name}=`));
  return pair === undefined ? undefined : decodeURIComponent(pair.slice(name.length + 1));
}

/** The XSRF-TOKEN cookie's value, asking latchkey for one first if the browser has none. */
async function xsrfToken() {
  let token = readCookie('XSRF-TOKEN');
  if (token === undefined) {
    await fetch(`${API}csrf-cookie`, { credentials: 'same-origin' });
    token = readCookie('XSRF-TOKEN');
  }
  return token ?? '';
}

/**
 * One call to latchkey. `bearer` sends a token instead of relying on the cookie (a bearer token
 * takes precedence over the session cookie and needs no CSRF header).
 */
async function api(method, path, { body, bearer } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  else if (!SAFE_METHODS.has(method)) headers['X-XSRF-TOKEN'] = await xsrfToken();
  const response = await fetch(API + path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error, response.headers.get('Retry-After'));
  return data;
}

const auth = {
  me: () => api('GET', 'me'),
  signIn: (email, password) => api('POST', 'session', { body: { email, password } }),
  signOut: () => api('DELETE', 'session'),
  sessions: () => api('GET', 'sessions'),
  endSession: (id) => api('DELETE', `sessions/${id}`),
  tokens: () => api('GET', 'tokens'),
  createToken: (body) => api('POST', 'tokens', { body }),
  revokeToken: (id) => api('DELETE', `tokens/${id}`),
  changePassword: (body) => api('PUT', 'password', { body }),
  forgotPassword: (email) => api('POST', 'forgot-password', { body: { email } }),
  resetPassword: (body) => api('POST', 'reset-password', { body }),
  resendVerification: () => api('POST', 'email/verification-notification'),
  /**
   * register and PUT password answer with a bearer token for API clients. A browser app lives
   * on its cookie and does not need it, so it revokes it at once instead of leaving an unused
   * credential behind: POST logout with that token revokes exactly that token.
   */
  discardToken: (token) => api('POST', 'logout', { bearer: token }),

  /** Sign-up: create the account, drop the token register returns, sign in with a session. */
  async signUp({ name, email, password }) {
    const registered = await api('POST', 'register', { body: { name: name || undefined, email, password } });
    await this.discardToken(registered.token);
    return this.signIn(email, password);
  },
};

// ---- page state and rendering -------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** Builds an element: el('td', { class: 'muted', title: '…' }, 'text', childElement). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((child) => child !== undefined && child !== null));
  return node;
}

function showNotice(message, kind = 'info') {
  const notice = $('notice');
  notice.textContent = message;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
}

function clearNotice() {
  $('notice').hidden = true;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const DAY = 24 * 3600;
/** [unit, its length in seconds, from how many seconds on it is used] */
const UNITS = [
  ['year', 365 * DAY, 365 * DAY],
  ['month', 30 * DAY, 45 * DAY], // "in 30 days" for the default token lifetime, not "in 1 month"
  ['day', DAY, DAY],
  ['hour', 3600, 3600],
  ['minute', 60, 60],
];

/** "3 minutes ago", "in 30 days", with the exact time as a tooltip. */
function timeCell(iso, fallback = 'Never') {
  if (!iso) return el('td', { class: 'muted' }, fallback);
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, , from]) => Math.abs(seconds) >= from) ?? ['second', 1];
  const text = Math.abs(seconds) < 45 ? 'just now' : relative.format(Math.round(seconds / size), unit);
  return el('td', {}, el('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text));
}

/** "Chrome on Linux" from a user agent; the full string stays in the tooltip. */
function deviceName(userAgent) {
  if (!userAgent) return 'Unknown device';
  const browser =
    [
      [/Edg\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\//, 'Firefox'],
      [/HeadlessChrome\//, 'Headless Chrome'],
      [/Chrom(e|ium)\//, 'Chrome'],
      [/Safari\//, 'Safari'],
      [/^curl\//, 'curl'],
    ].find(([pattern]) => pattern.test(userAgent))?.[1] ?? 'Browser';
  const system =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad/, 'iOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/CrOS/, 'ChromeOS'],
      [/Linux/, 'Linux'],
    ].find(([pattern]) => pattern.test(userAgent))?.[1];
  return system ? `${browser} on ${system}` : browser;
}

function renderUser(user) {
  $('who-email').textContent = user.email;
  $('greeting').textContent = user.name ? `Hello, ${user.name}` : 'Your account';
  const since = user.created_at ? `Member since ${new Date(user.created_at).toLocaleDateString(undefined, { dateStyle: 'long' })} · ` : '';
  $('member-since').textContent = `${since}${user.email} · user #${user.id}`;
  const verified = user.email_verified_at !== null;
  $('verification-state').textContent = verified
    ? `${user.email} is verified (${new Date(user.email_verified_at).toLocaleDateString(undefined, { dateStyle: 'long' })}).`
    : `${user.email} is not verified yet: follow the link in the mail we sent.`;
  $('resend-verification').hidden = verified;
}

function renderSessions(sessions) {
  const rows = sessions.map((session) =>
    el(
      'tr',
      { 'data-session-id': String(session.id) },
      el(
        'td',
        {},
        el('span', { class: 'device', title: session.user_agent ?? '' }, deviceName(session.user_agent)),
        session.current ? el('span', { class: 'badge' }, 'This device') : undefined,
      ),
      el('td', { class: 'mono' }, session.ip ?? '—'),
      timeCell(session.created_at),
      timeCell(session.last_active_at),
      el(
        'td',
        { class: 'actions' },
        el('button', { type: 'button', class: 'button danger small', onclick: () => endSession(session) }, session.current ? 'Sign out' : 'End session'),
      ),
    ),
  );
  $('sessions').replaceChildren(...(rows.length ? rows : [emptyRow(5, 'No browser is signed in with a session.')]));
}

function renderTokens(tokens) {
  const rows = tokens.map((token) =>
    el(
      'tr',
      { 'data-token-id': String(token.id) },
      el('td', {}, el('span', { class: 'token-name' }, token.name)),
      el('td', {}, ...token.abilities.map((ability) => el('span', { class: 'chip' }, ability === '*' ? 'all' : ability))),
      timeCell(token.created_at, '—'),
      timeCell(token.last_used_at),
      timeCell(token.expires_at),
      el('td', { class: 'actions' }, el('button', { type: 'button', class: 'button danger small', onclick: () => revokeToken(token) }, 'Revoke')),
    ),
  );
  $('tokens').replaceChildren(...(rows.length ? rows : [emptyRow(6, 'No personal access tokens yet.')]));
}

function emptyRow(columns, text) {
  return el('tr', {}, el('td', { class: 'empty', colspan: String(columns) }, text));
}

/** Whether the page shows the signed-in view (so a 401 means "your session ended"). */
let signedIn = false;

function showSignedIn() {
  signedIn = true;
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  $('who').hidden = false;
}

function showSignedOut(message) {
  signedIn = false;
  $('signed-in').hidden = true;
  $('who').hidden = true;
  $('signed-out').hidden = false;
  selectTab(false);
  $('new-token').hidden = true;
  $('new-token-value').value = '';
  if (message) showNotice(message, 'info');
}

/** Loads everything the signed-in view shows; a 401 means the session is over. */
async function loadAccount() {
  try {
    const [me, sessions, tokens] = await Promise.all([auth.me(), auth.sessions(), auth.tokens()]);
    renderUser(me.user);
    renderSessions(sessions.sessions);
    renderTokens(tokens.tokens);
    showSignedIn();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) return showNotice(error.message, 'error');
    showSignedOut(signedIn ? SESSION_ENDED : undefined);
  }
}

const SESSION_ENDED = 'Your session has ended. Please sign in again.';

// ---- actions --------------------------------------------------------------------------------

/** Runs a form's action with its button disabled; shows field errors and the message. */
function handleForm(form, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    for (const span of form.querySelectorAll('.field-error')) span.textContent = '';
    form.querySelector('.form-error').textContent = '';
    button.disabled = true;
    try {
      await action(Object.fromEntries(new FormData(form)));
    } catch (error) {
      showFormError(form, error);
    } finally {
      button.disabled = false;
    }
  });
}

function showFormError(form, error) {
  if (!(error instanceof ApiError)) {
    form.querySelector('.form-error').textContent = error.message;
    return;
  }
  if (error.status === 401 && signedIn) return void loadAccount(); // the session ended meanwhile
  const unplaced = [];
  for (const [field, problem] of Object.entries(error.fields)) {
    const span = form.querySelector(`.field-error[data-for="${field}"]`);
    if (span) span.textContent = problem;
    else unplaced.push(`${field} ${problem}`);
  }
  if (error.code === 'email_taken') form.querySelector('.field-error[data-for="email"]').textContent = error.message;
  else if (error.code !== 'validation_failed' || unplaced.length) form.querySelector('.form-error').textContent = [error.message, ...unplaced].join(' ');
}

async function afterSignIn(form) {
  form.reset();
  clearNotice();
  await loadAccount();
}

async function endSession(session) {
  if (!session.current && !confirm(`End the session of ${deviceName(session.user_agent)}? That browser will be signed out.`)) return;
  await runAction(async () => {
    await auth.endSession(session.id);
    if (session.current) return showSignedOut('You are signed out.');
    showNotice('The session has ended.', 'success');
    await loadAccount();
  });
}

async function revokeToken(token) {
  if (!confirm(`Revoke the token "${token.name}"? Programs using it will stop working at once.`)) return;
  await runAction(async () => {
    await auth.revokeToken(token.id);
    showNotice(`Token "${token.name}" revoked.`, 'success');
    await loadAccount();
  });
}

/** Runs a button's action; a 401 sends the page back to sign-in. */
async function runAction(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showSignedOut(SESSION_ENDED);
    else showNotice(error.message, 'error');
  }
}

/** Sign-in form, or the "forgot password" form in its place. */
function showForgot(forgot) {
  $('forgot-form').hidden = !forgot;
  $('sign-in-form').hidden = forgot;
  $('sign-up-form').hidden = true;
}

/** The reset form, from a reset mail's link: #reset?token=…&email=… */
function resetLink() {
  if (!location.hash.startsWith('#reset?')) return null;
  const params = new URLSearchParams(location.hash.slice('#reset?'.length));
  const token = params.get('token');
  const email = params.get('email');
  return token && email ? { token, email } : null;
}

/** Shows the reset form instead of everything else when the page was opened from a reset link. */
function openResetForm() {
  const link = resetLink();
  if (!link) return false;
  signedIn = false;
  for (const id of ['signed-in', 'signed-out', 'who']) $(id).hidden = true;
  clearNotice();
  $('reset-email').textContent = `For ${link.email}`;
  $('reset').hidden = false;
  return true;
}

function selectTab(signUp) {
  $('tab-sign-in').setAttribute('aria-selected', String(!signUp));
  $('tab-sign-up').setAttribute('aria-selected', String(signUp));
  $('forgot-form').hidden = true;
  $('sign-in-form').hidden = signUp;
  $('sign-up-form').hidden = !signUp;
}

async function copyNewToken() {
  const input = $('new-token-value');
  const button = $('copy-token');
  try {
    await navigator.clipboard.writeText(input.value);
    button.textContent = 'Copied';
  } catch {
    // No clipboard API (plain HTTP on another host): select it for Ctrl+C instead.
    input.select();
    button.textContent = 'Press Ctrl+C';
  }
  setTimeout(() => (button.textContent = 'Copy'), 2000);
}

function wire() {
  $('tab-sign-in').addEventListener('click', () => selectTab(false));
  $('tab-sign-up').addEventListener('click', () => selectTab(true));

  handleForm($('sign-in-form'), async ({ email, password }) => {
    await auth.signIn(email, password);
    await afterSignIn($('sign-in-form'));
  });

  handleForm($('sign-up-form'), async (fields) => {
    await auth.signUp(fields);
    await afterSignIn($('sign-up-form'));
  });

  handleForm($('token-form'), async ({ name, abilities, expires_in_minutes }) => {
    const body = { name };
    const list = abilities.split(',').map((a) => a.trim()).filter(Boolean);
    if (list.length) body.abilities = list;
    if (expires_in_minutes) body.expires_in_minutes = Number(expires_in_minutes);
    const created = await auth.createToken(body);
    $('token-form').reset();
    $('new-token-value').value = created.token;
    $('copy-token').textContent = 'Copy';
    $('new-token').hidden = false;
    $('new-token-value').select();
    await loadAccount();
  });

  handleForm($('password-form'), async ({ current_password, password, confirmation }) => {
    if (password !== confirmation) throw new ApiError(422, { code: 'validation_failed', fields: { confirmation: 'does not match the new password' } });
    // latchkey ends every session and token, sets a fresh session cookie on this browser, and
    // returns a fresh bearer token this page does not need.
    const changed = await auth.changePassword({ current_password, password });
    await auth.discardToken(changed.token);
    $('password-form').reset();
    showNotice('Password changed. Every other device was signed out and every token revoked.', 'success');
    await loadAccount();
  });

  $('forgot-link').addEventListener('click', () => showForgot(true));
  $('forgot-back').addEventListener('click', () => showForgot(false));
  handleForm($('forgot-form'), async ({ email }) => {
    await auth.forgotPassword(email);
    $('forgot-form').reset();
    showForgot(false);
    showNotice(`If an account uses ${email}, a link to set a new password is on its way.`, 'success');
  });

  handleForm($('reset-form'), async ({ password, confirmation }) => {
    if (password !== confirmation) throw new ApiError(422, { code: 'validation_failed', fields: { confirmation: 'does not match the new password' } });
    const link = resetLink();
    await auth.resetPassword({ email: link.email, token: link.token, password });
    $('reset-form').reset();
    history.replaceState(null, '', location.pathname); // the link is spent
    $('reset').hidden = true;
    showSignedOut();
    showNotice('Your password is set, and every device was signed out. Sign in with the new password.', 'success');
  });

  $('resend-verification').addEventListener('click', () =>
    runAction(async () => {
      await auth.resendVerification();
      showNotice('A new verification link is on its way.', 'success');
    }),
  );

  $('copy-token').addEventListener('click', copyNewToken);
  $('dismiss-token').addEventListener('click', () => {
    $('new-token').hidden = true;
    $('new-token-value').value = '';
  });
  $('refresh').addEventListener('click', () => runAction(loadAccount));
  $('sign-out').addEventListener('click', () =>
    runAction(async () => {
      await auth.signOut();
      showSignedOut('You are signed out.');
    }),
  );
  // Coming back to the tab shows what changed elsewhere (a device signed out, a token used).
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && signedIn) void loadAccount();
  });
}

async function start() {
  wire();
  await xsrfToken(); // step 1 above: have the XSRF-TOKEN cookie before the first state change
  // A reset link opened in a tab already on this page changes only the fragment.
  window.addEventListener('hashchange', openResetForm);
  if (openResetForm()) return;
  await loadAccount(); // signed in already (a session cookie from earlier) or the sign-in form
  if (location.hash === '#verified') {
    history.replaceState(null, '', location.pathname);
    showNotice('Your email address is verified.', 'success');
  }
}

void start();
