// What the soak's clients saw, as it happened: every answer (status counts per operation, every
// 5xx with its times), every credential the server acknowledged and what became of it, every
// revocation's return time, and every acceptance of a revoked credential. Times are
// performance.now() milliseconds of the soak process, the clock the fault schedule uses too.

/** How long after a revocation returned another instance may still accept the credential. */
export const REVOCATION_WINDOW_MS = 100;

export type CredentialKind = 'token' | 'session';
/** live: acknowledged and not revoked; revoked: a revocation answered 2xx; unknown: a revoking request failed, so either may be true. */
export type CredentialState = 'live' | 'revoked' | 'unknown';

export interface Credential {
  kind: CredentialKind;
  /** A token's `{id}|{secret}`, or a session cookie's value. */
  value: string;
  userId: number;
  state: CredentialState;
  /** When the revocation returned, and the instance that answered it (state 'revoked'). */
  revokedAt?: number;
  revokedOn?: string;
}

export interface Answer {
  op: string;
  instance: string;
  /** 0 when no answer came (timeout or connection error). */
  status: number;
  code?: string;
  sentAt: number;
  doneAt: number;
}

export interface LateAcceptance {
  credential: Credential;
  instance: string;
  sentAt: number;
  /** sentAt − revokedAt. */
  afterMs: number;
}

export class Ledger {
  /** op → status → count (status 0 = no answer). */
  readonly counts = new Map<string, Map<number, number>>();
  /** Every answer with status ≥ 500, and every request that got no answer. */
  readonly failures: Answer[] = [];
  readonly credentials: Credential[] = [];
  readonly users: { id: number; email: string }[] = [];
  /** Revoked credentials accepted later than the window, by an instance that did not revoke them. */
  readonly lateAcceptances: LateAcceptance[] = [];
  /** Revoked credentials accepted by the instance that revoked them, after it answered (no window applies). */
  readonly acceptedByRevoker: LateAcceptance[] = [];
  /** Revoked credentials accepted within the window (allowed; shown for context). */
  acceptedWithinWindow = 0;
  /** Probes of revoked credentials (answered 401, 200 or anything else). */
  revokedProbes = 0;
  /** Live credentials answered 401: an acknowledged credential that stopped working. */
  readonly liveRefused: { credential: Credential; answer: Answer }[] = [];

  record(answer: Answer): void {
    let byStatus = this.counts.get(answer.op);
    if (!byStatus) this.counts.set(answer.op, (byStatus = new Map()));
    byStatus.set(answer.status, (byStatus.get(answer.status) ?? 0) + 1);
    if (answer.status === 0 || answer.status >= 500) this.failures.push(answer);
  }

  acknowledge(kind: CredentialKind, value: string, userId: number): Credential {
    const credential: Credential = { kind, value, userId, state: 'live' };
    this.credentials.push(credential);
    return credential;
  }

  revoked(credential: Credential, answer: Answer): void {
    credential.state = 'revoked';
    credential.revokedAt = answer.doneAt;
    credential.revokedOn = answer.instance;
  }

  /** A revoked credential was probed; `accepted` when the server answered 200. */
  probedRevoked(credential: Credential, answer: Answer, accepted: boolean): void {
    this.revokedProbes++;
    if (!accepted) return;
    const late: LateAcceptance = { credential, instance: answer.instance, sentAt: answer.sentAt, afterMs: answer.sentAt - credential.revokedAt! };
    if (answer.instance === credential.revokedOn) this.acceptedByRevoker.push(late);
    else if (late.afterMs > REVOCATION_WINDOW_MS) this.lateAcceptances.push(late);
    else this.acceptedWithinWindow++;
  }

  total(): number {
    let n = 0;
    for (const byStatus of this.counts.values()) for (const count of byStatus.values()) n += count;
    return n;
  }
}
