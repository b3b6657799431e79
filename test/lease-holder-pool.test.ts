import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { createPool } from '../src/db/pool.js';
import { LeaseHolder } from '../src/idempotency/lease-holder.js';
import { createLogger } from '../src/logger.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';

const log = createLogger('silent');
/** Renewed every 200 ms; `id()` turns null half a second after the last committed renewal was sent. */
const HOLDER_TIMEOUT_SECONDS = 1;
/** How long the calls' pool stays saturated: well past what the test observes (about two timeouts). */
const SATURATION_SECONDS = 8;
/** Longest a condition below may take before the test fails instead of hanging. */
const CONDITION_DEADLINE_MS = 10_000;
const POLL_MS = 50;

async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + CONDITION_DEADLINE_MS;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

describe('the lease holder on its own connection', function () {
  this.timeout(60_000);

  it("keeps renewing while the calls' pool is saturated for longer than the holder timeout, where a holder on that pool runs out", async () => {
    const observer = await sharedPool();
    // The calls' pool: 2 connections, so 16 statements may queue (pool.ts).
    const calls = createPool(sharedDatabaseUrl(), 2);
    // As main.ts creates it for the holder.
    const own = createPool(sharedDatabaseUrl(), 1);
    const onOwn = new LeaseHolder(own, { timeoutSeconds: HOLDER_TIMEOUT_SECONDS, log });
    const onCalls = new LeaseHolder(calls, { timeoutSeconds: HOLDER_TIMEOUT_SECONDS, log });
    const marker = `holder-pool-test-${randomUUID()}`;
    const slow: Array<Promise<unknown>> = [];
    const queued: Array<Promise<unknown>> = [];
    let slowEnded = false;

    /** Whether each holder's row is alive by the database clock, and its alive_until. */
    async function rows(): Promise<Map<string, { alive: boolean; aliveUntil: string }>> {
      const [found] = await observer.query<RowDataPacket[]>(
        'SELECT holder_id, alive_until > NOW(6) AS alive, CAST(alive_until AS CHAR) AS alive_until FROM lease_holders WHERE holder_id IN (?, ?)',
        [onOwn.holderIdentity, onCalls.holderIdentity],
      );
      return new Map(
        found.map((r) => [Buffer.from(r['holder_id'] as Buffer).toString('hex'), { alive: Number(r['alive']) === 1, aliveUntil: String(r['alive_until']) }]),
      );
    }
    const ownRow = async () => (await rows()).get(onOwn.holderIdentity.toString('hex'));
    const callsRow = async () => (await rows()).get(onCalls.holderIdentity.toString('hex'));

    try {
      await Promise.all([onOwn.start(), onCalls.start()]);
      expect(onOwn.id(), 'holder on its own pool after start').to.not.equal(null);
      expect(onCalls.id(), "holder on the calls' pool after start").to.not.equal(null);

      // Saturate the calls' pool: both connections busy with a slow statement, and its queue full,
      // so a renewal sent to it either waits behind them or is refused ('Queue limit reached.').
      for (let i = 0; i < 2; i++) slow.push(calls.query(`SELECT /* ${marker} */ SLEEP(${SATURATION_SECONDS})`).catch(() => undefined));
      void Promise.all(slow).then(() => (slowEnded = true));
      await waitFor('both connections of the calls pool to run the slow statement', async () => {
        const [n] = await observer.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE CONCAT('%', ?, '%SLEEP%')",
          [marker],
        );
        return Number(n[0]!['n']) === 2;
      });
      let refused = 0;
      for (let i = 0; i < 100; i++) queued.push(calls.query('SELECT 1').catch(() => refused++));
      await new Promise((resolve) => setImmediate(resolve));
      expect(refused, "the calls pool's queue is full").to.be.greaterThan(0);
      const ownBefore = (await ownRow())!.aliveUntil;

      // Sampled until the holder on the calls' pool has run out (by the database clock and by its
      // own id()): all along, the holder on its own connection stays alive and recordable.
      await waitFor("the holder on the calls' pool to run out", async () => {
        const own = await ownRow();
        expect(own?.alive, 'holder on its own pool alive in lease_holders').to.equal(true);
        expect(onOwn.id(), 'holder on its own pool recordable').to.not.equal(null);
        const other = await callsRow();
        return other?.alive === false && onCalls.id() === null;
      });
      // Then for one more holder timeout (the one fixed wait: the timeout elapsing is the point).
      const until = Date.now() + HOLDER_TIMEOUT_SECONDS * 1000;
      while (Date.now() < until) {
        const own = await ownRow();
        expect(own?.alive, 'holder on its own pool alive in lease_holders').to.equal(true);
        expect(onOwn.id(), 'holder on its own pool recordable').to.not.equal(null);
        expect((await callsRow())?.alive, "holder on the calls' pool").to.equal(false);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      // Its row kept moving (renewed, not one long-lived row), and all of it happened while the
      // calls' pool was still saturated.
      expect((await ownRow())!.aliveUntil > ownBefore, 'alive_until of the holder on its own pool moved').to.equal(true);
      expect(slowEnded, "the calls' pool was saturated throughout").to.equal(false);
    } finally {
      // End the slow statements now instead of waiting them out.
      const [running] = await observer.query<RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE CONCAT('%', ?, '%SLEEP%')",
        [marker],
      );
      for (const r of running) await observer.query(`KILL QUERY ${Number(r['ID'])}`).catch(() => undefined);
      await Promise.all([...slow, ...queued]);
      await Promise.all([onOwn.stop(), onCalls.stop()]);
      await Promise.all([calls.end(), own.end()]);
    }
  });
});
