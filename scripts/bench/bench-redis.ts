import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connectRedis } from './naive-redis.js';

/** redis-server starts in milliseconds; this bounds a binary that never answers. */
const REDIS_START_TIMEOUT_MS = 10_000;
const REDIS_START_POLL_MS = 50;
/** Bounds a Redis that ignores SIGTERM; it has nothing worth saving (persistence is off). */
const REDIS_STOP_TIMEOUT_MS = 5_000;

export interface BenchRedis {
  url: string;
  /** Where it came from, for the report. */
  origin: string;
  stop(): Promise<void>;
}

/** A port nothing listens on right now (the OS picks it; a race with another process is harmless here: start fails loudly). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The benchmark's own Redis: a `redis-server` on a free loopback port, without
 * snapshots (nothing outlives the run), so the Redis-backed rows do not share
 * a server with anything else on the machine. Rejects when `redis-server`
 * cannot be started; the caller then falls back to a given URL.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  failed.catch(() => undefined);
  const url = `redis://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), REDIS_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + REDIS_START_TIMEOUT_MS;
  for (;;) {
    try {
      const client = await Promise.race([connectRedis(url), failed]);
      await client.close();
      return { url, origin: `redis-server started by the benchmark on port ${port}`, stop };
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw err;
      }
      await delay(REDIS_START_POLL_MS);
    }
  }
}
