// A TCP proxy on a free loopback port in front of a real server (PostgreSQL, Redis), so a test
// can cut the network (connections reset, new ones refused) or stall it silently (connections
// stay open, bytes stop flowing: a partition that TCP has not noticed yet).
import { once } from 'node:events';
import { createServer, Socket, type Server } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;
  /** Writes held back while stalled, in arrival order. */
  private readonly held: (() => void)[] = [];

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    probe.close();
    await once(probe, 'close');
    const proxy = new TcpProxy(port, { host: target.host ?? '127.0.0.1', port: target.port });
    await proxy.listen();
    return proxy;
  }

  /** Resets every connection and refuses new ones until restore(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  /** Stops moving bytes either way; connections stay open, as in a silent partition. */
  stall(): void {
    this.stalled = true;
  }

  /** Delivers what was held back, in order, and moves bytes again. */
  unstall(): void {
    this.stalled = false;
    for (const flush of this.held.splice(0)) flush();
  }

  async close(): Promise<void> {
    await this.cut();
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
  }

  private accept(client: Socket): void {
    const upstream = new Socket();
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.connect(this.target.port, this.target.host);
    const forward = (to: Socket) => (chunk: Buffer) => {
      const write = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (this.stalled) this.held.push(write);
      else write();
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }
}
