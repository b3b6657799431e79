import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';
import { type NaiveDecision, NaiveKeyInUseError, type NaiveKeyStore } from './naive-key-store.js';

/** The Redis the machine runs; loopback only. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** A reachable local Redis answers PING in well under a millisecond; this only bounds a dead port. */
const CONNECT_TIMEOUT_MS = 1_000;
/** Marker of a key whose first call is running; never valid base64, so it cannot be a response. */
const IN_PROGRESS = '~in-progress';
/** In-progress markers expire like a lease, so a call that died does not block its key forever. */
const IN_PROGRESS_TTL_SECONDS = 30;
/** Completed keys outlive any benchmark run; the benchmark also deletes its keys when it ends. */
const COMPLETED_TTL_SECONDS = 3_600;
/** Longest a duplicate waits for the in-flight call of its key before ABORTED (the product waits 10 s). */
const MAX_WAIT_MS = 10_000;
/** Polls of an in-progress key start short (charges take tens of ms) and back off to this. */
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 200;

function newClient(url: string) {
  return createClient({ url, socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false } });
}

export type Redis = ReturnType<typeof newClient>;

/** Connects without retrying; rejects when nothing answers PING within the timeout. */
export async function connectRedis(url: string = DEFAULT_REDIS_URL): Promise<Redis> {
  const client = newClient(url);
  // node-redis emits 'error' on connection problems; without a listener it would throw asynchronously.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.destroy();
    throw err;
  }
  return client;
}

/** Deletes every key under `prefix` (the benchmark's own keys, nothing else). */
export async function deleteRedisKeys(client: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) deleted += await client.del(keys);
  }
  return deleted;
}

/**
 * A shared Redis with GET-then-SET: every instance sees every completed key,
 * and an in-progress marker makes later duplicates wait. But the GET and the
 * SET of the marker are two commands, not one `SET NX`: two calls that GET
 * before either SETs both run the handler.
 */
export class RedisGetThenSetStore implements NaiveKeyStore {
  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
  ) {}

  async begin(scope: string, key: string): Promise<NaiveDecision> {
    const id = `${this.prefix}${scope}:${key}`;
    const until = Date.now() + MAX_WAIT_MS;
    let pollMs = FIRST_POLL_MS;
    for (;;) {
      const value = await this.client.get(id);
      if (value === null) {
        // The race this strategy stands for: another instance may GET null between our GET and this SET.
        await this.client.set(id, IN_PROGRESS, { expiration: { type: 'EX', value: IN_PROGRESS_TTL_SECONDS } });
        return {
          kind: 'proceed',
          ticket: {
            complete: async (body) => {
              await this.client.set(id, body.toString('base64'), { expiration: { type: 'EX', value: COMPLETED_TTL_SECONDS } });
            },
            abandon: async () => {
              await this.client.del(id);
            },
          },
        };
      }
      if (value !== IN_PROGRESS) return { kind: 'replay', body: Buffer.from(value, 'base64') };
      const remaining = until - Date.now();
      if (remaining <= 0) throw new NaiveKeyInUseError(`key ${key} is in progress`);
      await delay(Math.min(pollMs, remaining));
      pollMs = Math.min(MAX_POLL_MS, Math.ceil(pollMs * 1.5));
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
