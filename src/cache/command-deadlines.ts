// REDIS_TIMEOUT for the cache's Redis commands, with one timer for all commands in flight rather
// than a timer, a deadline promise and a race per command: on the Redis path those were about a
// tenth of what a request allocated, at thousands of commands a second.

class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

interface Waiting {
  due: number;
  fail: (error: Error) => void;
  answered: boolean;
}

export class CommandDeadlines {
  /**
   * Commands in flight from `head` on, in the order they were sent (so, by deadline). A
   * connection answers in order, so answered ones are mostly at the head and leave at once:
   * none is kept for as long as REDIS_TIMEOUT, where the young-generation GC would promote it.
   */
  private readonly waiting: (Waiting | undefined)[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `onTimeout`: a command outlived REDIS_TIMEOUT (the tier stalls). */
  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: () => void,
  ) {}

  /**
   * `work`'s outcome, or a RedisTimeoutError if it has none within REDIS_TIMEOUT. The deadline is
   * judged after the event loop has read pending I/O (setImmediate runs after the poll phase), so
   * an answer that came in time but waited behind a busy loop counts as in time: event-loop lag
   * is not a slow Redis. ioredis's own command timeout ("Command timed out", a backstop) counts
   * as a timeout too.
   */
  watch<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = { due: Date.now() + this.timeoutMs, fail: reject, answered: false };
      this.waiting.push(waiting);
      this.timer ??= this.armFor(waiting.due);
      work.then(
        (value) => {
          this.answer(waiting);
          resolve(value);
        },
        (error: unknown) => {
          this.answer(waiting);
          if (/timed out/i.test(String((error as Error)?.message))) this.onTimeout();
          reject(error);
        },
      );
    });
  }

  private answer(waiting: Waiting): void {
    waiting.answered = true;
    while (this.head < this.waiting.length && this.waiting[this.head]!.answered) this.waiting[this.head++] = undefined;
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }

  private armFor(due: number): NodeJS.Timeout {
    const timer = setTimeout(() => setImmediate(() => this.expire()), Math.max(0, due - Date.now()));
    timer.unref();
    return timer;
  }

  /** Fails the commands past their deadline, then waits for the next one's. */
  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    const overdue: Waiting[] = [];
    for (let i = this.head; i < this.waiting.length && this.waiting[i]!.due <= now; i++) {
      if (!this.waiting[i]!.answered) overdue.push(this.waiting[i]!);
    }
    for (const waiting of overdue) {
      this.answer(waiting);
      waiting.fail(new RedisTimeoutError(this.timeoutMs));
    }
    if (overdue.length > 0) this.onTimeout();
    for (let i = this.head; i < this.waiting.length; i++) {
      if (!this.waiting[i]!.answered) {
        this.timer = this.armFor(this.waiting[i]!.due);
        return;
      }
    }
  }
}
