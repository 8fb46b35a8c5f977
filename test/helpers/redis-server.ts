// A redis-server of the test's own, on a free loopback port, persisting every write to its
// append-only file in a temp directory, so a test can kill it, restart it from the same data,
// or freeze it (SIGSTOP). A missing redis-server binary fails the test loudly.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Starts the server (again) from its data directory and waits until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL by default: a crash, which `appendfsync always` survives. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  pause(): void;
  resume(): void;
  /** Stops it and removes its data directory. */
  close(): Promise<void>;
}


export { freePort };

export async function startRedisServer(port?: number): Promise<RedisServer> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-'));
  let child: ChildProcess | undefined;

  const server: RedisServer = {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    dir,
    async start() {
      if (child) throw new Error('redis-server is already running');
      const args = ['--port', String(chosen), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--logfile', join(dir, 'redis.log')];
      const started = spawn('redis-server', args, { stdio: 'ignore' });
      child = started;
      const failed = new Promise<never>((_, reject) => {
        started.once('error', (error) => reject(new Error(`cannot run redis-server (is it installed?): ${error.message}`)));
        started.once('exit', (code) => reject(new Error(`redis-server exited at start with code ${code}; see ${join(dir, 'redis.log')}`)));
      });
      failed.catch(() => undefined);
      await Promise.race([failed, waitForPong(chosen, 10_000)]);
    },
    async stop(signal = 'SIGKILL') {
      const running = child;
      if (!running) return;
      child = undefined;
      if (running.exitCode === null && running.signalCode === null) {
        running.kill('SIGCONT'); // a frozen process cannot act on SIGTERM
        running.kill(signal);
        await once(running, 'exit');
      }
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** Resolves once a PING on a fresh connection is answered with PONG. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await pingOnce(port)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
}

function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
  });
}
