// The shared tier's reads, batched: every GET asked for in one turn of the event loop goes to
// Redis as one MGET, sent right after the loop has read what came in (setImmediate), while
// earlier batches may still be in flight.
//
// Why not ioredis's auto-pipelining alone: it sends one pipeline at a time per connection, so under
// load a command asked for while one is in flight waits for that pipeline's answers before it is
// even sent. Requests then stay in flight long enough for their objects to outlive young-generation
// GCs and be promoted, and one MGET is also one command object and one reply where auto-pipelining
// has one of each per key. docs/benchmarks.md has the measurements.

interface Waiting {
  resolve: (value: string | null) => void;
  reject: (error: unknown) => void;
}

export class BatchedReads {
  private keys: string[] = [];
  private waiting: Waiting[] = [];

  /** `mget`: the values of `keys`, in order (null for a missing key). */
  constructor(private readonly mget: (keys: string[]) => Promise<(string | null)[]>) {}

  get(key: string): Promise<string | null> {
    if (this.keys.length === 0) setImmediate(() => this.send());
    this.keys.push(key);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private send(): void {
    const { keys, waiting } = this;
    this.keys = [];
    this.waiting = [];
    this.mget(keys).then(
      (values) => {
        for (let i = 0; i < waiting.length; i++) waiting[i]!.resolve(values[i] ?? null);
      },
      (error: unknown) => {
        for (const one of waiting) one.reject(error);
      },
    );
  }
}
