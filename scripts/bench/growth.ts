// Over 400 lines but one idea: one benchmark run (setup, the measured rounds, the report), read top to bottom.

/**
 * Cost as the data grows: first calls and replays against a database whose idempotency_keys
 * and charges tables hold `--rows` rows each (default 10 million), side by side with the same
 * service on empty tables, in one run.
 *
 *   npm run -s bench:growth [-- --rows 10000000 --buffer-pool 4G --concurrency 64 --rounds 3 --slices 6 --slice-ms 1000]
 *   npm run -s bench:growth -- --quick          (200,000 rows, one short round: CI-sized)
 *
 * Two private MariaDB instances (each its own temp data dir, same settings) run at once: one is
 * filled by bulk load (INSERT ... SELECT from MariaDB's sequence engine, in chunks; not through
 * the API), the other stays empty. Each gets a benchmark server (scripts/bench/throughput-server.ts,
 * no completed outcomes in memory, so every replay reads the database) and one load generator
 * (scripts/bench/load-generator.ts) drives the four targets (first call and replay on each)
 * in turns of about a second, A B C D D C B A ..., so empty and filled meet the same machine:
 * this shared box drifts by more than the differences measured.
 *
 * The filled rows are shaped like the service's own: every bulk row copies a real completed
 * CreateCharge (its request, fingerprint and stored response, made through the API first) under
 * a random-looking key (SHA-1 of a counter, so new keys land all over the unique index, as real
 * ones do) and a merchant among `--merchants`; the benchmark's merchant owns a tenth of them.
 * Bulk keys expire in 30 days, so no reaper work falls in the measurement.
 *
 * innodb_buffer_pool_size is a stated setting of the run (`--buffer-pool`, applied to both
 * instances with SET GLOBAL): the tables' hot index pages must fit for flat cost, and the
 * figures hold for that size only. The load runs with innodb_flush_log_at_trx_commit=2 and a
 * larger redo log; both go back to the service's settings (1, durable commits) before anything
 * is measured.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { RowDataPacket } from 'mysql2';
import { type LocalMysql, startLocalMysql } from '../../src/db/local-mysql.js';
import { migrate } from '../../src/db/migrations.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';
import { BENCH_CHARGE, type Scenario } from './load-generator.js';
import { type BenchServer, LoadGeneratorProcess, slicePattern, startBenchServer, untilQuiet } from './load-generator-process.js';

/** Completed keys replayed in the replay scenario (as scripts/bench/throughput.ts). */
const REPLAY_KEYS = 1000;
/** Rows per INSERT ... SELECT: one transaction each, so undo and locks stay bounded. */
const LOAD_CHUNK_ROWS = 250_000;
/** Rows in the quick (CI) run. */
const QUICK_ROWS = 200_000;
/** Bulk keys expire this far ahead: no reaper work during the run. */
const BULK_TTL_DAYS = 30;
/** Redo log during the load only: a small redo log forces a checkpoint every few chunks. */
const LOAD_REDO_LOG_BYTES = 2 * 1024 ** 3;
/** Buffer pool resizing is asynchronous; it finishes within seconds on an idle server. */
const BUFFER_POOL_RESIZE_TIMEOUT_MS = 120_000;
const BUFFER_POOL_POLL_MS = 200;
/** Longest wait for the filled database to finish flushing after the load (10M rows: a few minutes). */
const QUIET_AFTER_LOAD_MAX_MS = 600_000;

function log(message: string): void {
  process.stderr.write(`[bench:growth] ${message}\n`);
}

function bytes(text: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (!m) throw new Error(`--buffer-pool must be a size such as 512M or 4G, got ${text}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
}

async function setBufferPool(pool: Pool, size: number): Promise<void> {
  await pool.query('SET GLOBAL innodb_buffer_pool_size = ?', [size]);
  const deadline = Date.now() + BUFFER_POOL_RESIZE_TIMEOUT_MS;
  for (;;) {
    const [rows] = await pool.query<RowDataPacket[]>('SELECT @@innodb_buffer_pool_size AS size');
    if (Number(rows[0]!['size']) >= size) return;
    if (Date.now() > deadline) throw new Error(`innodb_buffer_pool_size is still ${rows[0]!['size']} after ${BUFFER_POOL_RESIZE_TIMEOUT_MS} ms`);
    await delay(BUFFER_POOL_POLL_MS);
  }
}

/** Makes the given keys completed CreateCharges (BENCH_CHARGE) through the service. */
async function seedKeys(port: number, apiKey: string, keys: string[]): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const body = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(
      keys.slice(i, i + 50).map(
        (key) =>
          new Promise<void>((resolve, reject) => {
            const md = new grpc.Metadata();
            md.set('authorization', `Bearer ${apiKey}`);
            md.set('idempotency-key', key);
            client.makeUnaryRequest<Buffer, Buffer>(
              '/payments.v1.PaymentService/CreateCharge',
              (b) => b,
              (b) => b,
              body,
              md,
              (err) => (err ? reject(err) : resolve()),
            );
          }),
      ),
    );
  }
  client.close();
}

/** The same merchant and API key in another database, so one load plan serves both servers. */
async function copyMerchant(from: Pool, to: Pool, merchantId: string): Promise<void> {
  const [merchants] = await from.query<RowDataPacket[]>('SELECT id, name, created_at FROM merchants WHERE id = ?', [merchantId]);
  const [keys] = await from.query<RowDataPacket[]>('SELECT key_hash, merchant_id, key_prefix, created_at FROM api_keys WHERE merchant_id = ?', [merchantId]);
  for (const m of merchants) await to.query('INSERT INTO merchants (id, name, created_at) VALUES (?, ?, ?)', [m['id'], m['name'], m['created_at']]);
  for (const k of keys)
    await to.query('INSERT INTO api_keys (key_hash, merchant_id, key_prefix, created_at) VALUES (?, ?, ?, ?)', [
      k['key_hash'],
      k['merchant_id'],
      k['key_prefix'],
      k['created_at'],
    ]);
}

/** A merchant for bulk row `seq`: the benchmark's merchant owns every tenth row. */
const MERCHANT_OF_SEQ = "IF(s.seq % 10 = 0, ?, CONCAT('mer_bulk_', s.seq % ?))";

/**
 * Fills both tables with `rows` rows each, copying the template rows of one real CreateCharge
 * (key id `templateId`); the two tables load in parallel on two connections. Returns seconds.
 */
async function bulkLoad(pool: Pool, rows: number, merchantId: string, merchants: number, templateId: string): Promise<number> {
  const started = Date.now();
  const seed = randomUUID();
  const [idRows] = await pool.query<RowDataPacket[]>('SELECT MAX(id) AS id FROM idempotency_keys');
  // The template rows in tables of their own: an INSERT ... SELECT that reads its own target
  // table materialises the SELECT in a temporary table first, at every chunk.
  await pool.query('CREATE TABLE growth_template_keys AS SELECT * FROM idempotency_keys WHERE id = ?', [templateId]);
  await pool.query('CREATE TABLE growth_template_charges AS SELECT * FROM charges WHERE idempotency_key_id = ?', [templateId]);
  // Bulk key ids come after every existing row; their charges point at them (uq_charges_idempotency).
  const base = Number(idRows[0]!['id']);
  const loadKeys = async (from: number, to: number): Promise<void> => {
    await pool.query(
      `INSERT INTO idempotency_keys
         (id, merchant_id, idempotency_key, method, fingerprint, fingerprint_version, request_body, state, recovery_point,
          attention_reason, locked_until, lease_version, claim_token, response_code, response_message, response_body,
          response_trailers, created_at, expires_at)
       SELECT ? + s.seq, ${MERCHANT_OF_SEQ}, SHA1(CONCAT(?, s.seq)), t.method, t.fingerprint, t.fingerprint_version,
          t.request_body, t.state, t.recovery_point, NULL, NULL, 1, UNHEX(MD5(CONCAT(?, s.seq))), t.response_code,
          t.response_message, t.response_body, t.response_trailers, NOW(6) - INTERVAL (? - s.seq) SECOND,
          NOW(6) + INTERVAL ${BULK_TTL_DAYS} DAY
       FROM seq_${from}_to_${to} s JOIN growth_template_keys t`,
      [base, merchantId, merchants, seed, seed, rows],
    );
  };
  const loadCharges = async (from: number, to: number): Promise<void> => {
    await pool.query(
      `INSERT INTO charges
         (id, merchant_id, idempotency_key_id, status, amount, amount_captured, amount_refunded, currency, customer_id,
          description, metadata, capture_method, payment_method, failure_code, decline_code, failure_message,
          provider_reference, created_at, updated_at)
       SELECT CONCAT('ch_', MD5(CONCAT(?, s.seq))), ${MERCHANT_OF_SEQ}, ? + s.seq, t.status, t.amount, t.amount_captured,
          t.amount_refunded, t.currency, t.customer_id, t.description, t.metadata, t.capture_method, t.payment_method,
          t.failure_code, t.decline_code, t.failure_message, CONCAT('pi_bulk_', s.seq), NOW(6) - INTERVAL (? - s.seq) SECOND,
          NOW(6) - INTERVAL (? - s.seq) SECOND
       FROM seq_${from}_to_${to} s JOIN growth_template_charges t`,
      [seed, merchantId, merchants, base, rows, rows],
    );
  };
  const run = async (table: string, load: (from: number, to: number) => Promise<void>): Promise<void> => {
    for (let from = 1; from <= rows; from += LOAD_CHUNK_ROWS) {
      const to = Math.min(rows, from + LOAD_CHUNK_ROWS - 1);
      await load(from, to);
      const seconds = (Date.now() - started) / 1000;
      log(`  ${table}: ${to.toLocaleString('en-US')} rows after ${seconds.toFixed(0)} s (${Math.round(to / seconds).toLocaleString('en-US')} rows/s)`);
    }
  };
  await Promise.all([run('idempotency_keys', loadKeys), run('charges', loadCharges)]);
  await pool.query('DROP TABLE growth_template_keys, growth_template_charges');
  return (Date.now() - started) / 1000;
}

async function tableSizes(pool: Pool): Promise<Record<string, { rows: number; dataMiB: number; indexMiB: number }>> {
  const [rows] = await pool.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS name, DATA_LENGTH AS data, INDEX_LENGTH AS idx FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('idempotency_keys', 'charges')",
  );
  const out: Record<string, { rows: number; dataMiB: number; indexMiB: number }> = {};
  for (const r of rows) {
    const name = String(r['name']);
    const [count] = await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${name === 'charges' ? 'charges' : 'idempotency_keys'}`);
    out[name] = { rows: Number(count[0]!['n']), dataMiB: Number(r['data']) / 2 ** 20, indexMiB: Number(r['idx']) / 2 ** 20 };
  }
  return out;
}

interface Measured {
  label: string;
  scenario: Scenario;
  tables: 'empty' | 'filled';
  round: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | undefined;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      merchants: { type: 'string', default: '1000' },
      'buffer-pool': { type: 'string', default: '4G' },
      concurrency: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
      slices: { type: 'string', default: '6' },
      'slice-ms': { type: 'string', default: '1000' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/growth.json' },
    },
  });
  const rows = Number(values.rows ?? (values.quick ? QUICK_ROWS : 10_000_000));
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`--rows must be a positive integer, got ${values.rows}`);
  const merchants = Number(values.merchants);
  const bufferPool = bytes(values['buffer-pool']!);
  const concurrency = Number(values.concurrency);
  const rounds = values.quick ? 1 : Number(values.rounds);
  const slices = values.quick ? 2 : Number(values.slices);
  const sliceMs = values.quick ? 500 : Number(values['slice-ms']);
  const warmupMs = values.quick ? 500 : 3000;

  const dirs: string[] = [];
  const locals: LocalMysql[] = [];
  const pools: Pool[] = [];
  const servers: BenchServer[] = [];
  const sim = await startProviderSimulator();
  try {
    const startDb = async (name: string): Promise<{ local: LocalMysql; pool: Pool }> => {
      const dir = mkdtempSync(path.join(os.tmpdir(), `bench-growth-${name}-`));
      dirs.push(dir);
      const local = await startLocalMysql({ dataDir: dir });
      locals.push(local);
      const pool = createPool(local.url, 4);
      pools.push(pool);
      await migrate(pool);
      await setBufferPool(pool, bufferPool);
      return { local, pool };
    };
    log(`starting two private databases (innodb_buffer_pool_size ${values['buffer-pool']} each)`);
    const [empty, filled] = await Promise.all([startDb('empty'), startDb('filled')]);
    const { apiKey, merchantId } = await new MerchantStore(empty.pool).create(`bench-${randomUUID()}`);
    await copyMerchant(empty.pool, filled.pool, merchantId);
    const common = ['--provider-url', sim.url, '--provider-key', sim.secretKey, '--replay-cache-entries', '0'];

    // One real CreateCharge on the database to fill: every bulk row copies its rows.
    const filledServer = await startBenchServer(['--mysql-url', filled.local.url, ...common]);
    servers.push(filledServer);
    const templateKey = `template-${randomUUID()}`;
    await seedKeys(filledServer.port, apiKey, [templateKey]);
    const [template] = await filled.pool.query<RowDataPacket[]>('SELECT id FROM idempotency_keys WHERE merchant_id = ? AND idempotency_key = ?', [
      merchantId,
      templateKey,
    ]);
    const templateId = String(template[0]!['id']);

    log(`bulk loading ${rows.toLocaleString('en-US')} rows into idempotency_keys and into charges`);
    await filled.pool.query('SET GLOBAL innodb_flush_log_at_trx_commit = 2');
    // MariaDB 10.9+ resizes the redo log online; elsewhere the load just checkpoints more often.
    await filled.pool
      .query('SET GLOBAL innodb_log_file_size = ?', [LOAD_REDO_LOG_BYTES])
      .catch(() => log('  (redo log size is not dynamic on this server: kept)'));
    const loadSeconds = await bulkLoad(filled.pool, rows, merchantId, merchants, templateId);
    await filled.pool.query('SET GLOBAL innodb_flush_log_at_trx_commit = 1');
    log(`loaded in ${loadSeconds.toFixed(0)} s; analysing tables and waiting for the database to go quiet`);
    await filled.pool.query('ANALYZE TABLE idempotency_keys, charges');
    const sizes = await tableSizes(filled.pool);
    for (const [name, s] of Object.entries(sizes))
      log(`  ${name}: ${s.rows.toLocaleString('en-US')} rows, data ${s.dataMiB.toFixed(0)} MiB, indexes ${s.indexMiB.toFixed(0)} MiB`);

    const emptyServer = await startBenchServer(['--mysql-url', empty.local.url, ...common]);
    servers.push(emptyServer);
    // Replayed keys are recent ones (a retry follows its first call within minutes), on both.
    const replayKeys = Array.from({ length: REPLAY_KEYS }, () => `seed-${randomUUID()}`);
    await Promise.all([seedKeys(emptyServer.port, apiKey, replayKeys), seedKeys(filledServer.port, apiKey, replayKeys)]);
    // After a large load InnoDB flushes dirty pages for minutes: that work must not fall in the measurement.
    const waited = await untilQuiet([filled.local.pid, empty.local.pid], QUIET_AFTER_LOAD_MAX_MS);
    log(`databases quiet after ${(waited / 1000).toFixed(0)} s`);

    const targets: Array<{ scenario: Scenario; server: BenchServer; tables: 'empty' | 'filled'; label: string }> = [
      { scenario: 'create-first', server: emptyServer, tables: 'empty', label: 'first call, empty tables' },
      { scenario: 'create-first', server: filledServer, tables: 'filled', label: `first call, ${rows.toLocaleString('en-US')} rows` },
      { scenario: 'replay-db', server: emptyServer, tables: 'empty', label: 'replay (from DB), empty tables' },
      { scenario: 'replay-db', server: filledServer, tables: 'filled', label: `replay (from DB), ${rows.toLocaleString('en-US')} rows` },
    ];
    const results: Measured[] = [];
    for (let round = 1; round <= rounds; round++) {
      const lg = await LoadGeneratorProcess.start({
        targets: targets.map((t) => ({ scenario: t.scenario, port: t.server.port })),
        concurrency,
        apiKey,
        replayKeys,
        chargeIds: [],
      });
      try {
        for (let t = 0; t < targets.length; t++) {
          await lg.start(t, false);
          await delay(warmupMs);
          await lg.drain();
        }
        const totals = targets.map(() => ({ completed: 0, seconds: 0 }));
        for (const t of slicePattern(targets.length, slices)) {
          await lg.start(t, true);
          await delay(sliceMs);
          const slice = await lg.drain();
          totals[t]!.completed += slice.completed;
          totals[t]!.seconds += slice.seconds;
        }
        const byTarget = await lg.stop();
        byTarget.forEach((m, i) => {
          const t = targets[i]!;
          results.push({
            label: t.label,
            scenario: t.scenario,
            tables: t.tables,
            round,
            throughput: totals[i]!.completed / totals[i]!.seconds,
            p50Ms: m.p50Ms,
            p99Ms: m.p99Ms,
            errors: m.errors,
            firstError: m.firstError,
          });
          const r = results.at(-1)!;
          log(
            `round ${round}: ${r.label.padEnd(36)} ${r.throughput.toFixed(0).padStart(6)} calls/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}`,
          );
        });
      } catch (err) {
        lg.child.kill();
        throw err;
      }
    }

    const find = (scenario: Scenario, tables: 'empty' | 'filled', round: number): Measured =>
      results.find((r) => r.scenario === scenario && r.tables === tables && r.round === round)!;
    const summary = (['create-first', 'replay-db'] as const).map((scenario) => {
      const throughputRatios: number[] = [];
      const p99Ratios: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const e = find(scenario, 'empty', round);
        const f = find(scenario, 'filled', round);
        throughputRatios.push(f.throughput / e.throughput);
        // Inverted, so that like throughput, 1.0 is "as fast" and the goal is >= 0.9.
        p99Ratios.push(e.p99Ms / f.p99Ms);
      }
      return { scenario, throughputFilledOverEmpty: median(throughputRatios), p99EmptyOverFilled: median(p99Ratios), throughputRatios, p99Ratios };
    });
    const errors = results.reduce((n, r) => n + r.errors, 0);
    console.log(
      `\ngrowth: ${rows.toLocaleString('en-US')} rows in idempotency_keys and in charges (loaded in ${loadSeconds.toFixed(0)} s), innodb_buffer_pool_size ${values['buffer-pool']}, concurrency ${concurrency}, ${rounds} round(s) of ${slices} x ${sliceMs} ms slices per target`,
    );
    console.log(
      `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), shared with two databases, two servers, the load generator and the provider simulator\n`,
    );
    console.log('scenario                                   calls/s    p50 ms    p99 ms   (median round)');
    for (const t of targets) {
      const runs = results.filter((r) => r.scenario === t.scenario && r.tables === t.tables).sort((a, b) => a.throughput - b.throughput);
      const r = runs[Math.floor((runs.length - 1) / 2)]!;
      console.log(`${t.label.padEnd(40)} ${r.throughput.toFixed(0).padStart(8)} ${r.p50Ms.toFixed(2).padStart(9)} ${r.p99Ms.toFixed(2).padStart(9)}`);
    }
    console.log('\nfilled / empty (goal >= 0.90; p99 as empty p99 / filled p99, so higher is better here too)');
    for (const s of summary) {
      const each = (xs: number[]): string => (xs.length > 1 ? ` (rounds: ${xs.map((x) => x.toFixed(2)).join(', ')})` : '');
      console.log(
        `  ${s.scenario === 'create-first' ? 'first call' : 'replay    '}: throughput ${s.throughputFilledOverEmpty.toFixed(2)}x${each(s.throughputRatios)}   p99 ${s.p99EmptyOverFilled.toFixed(2)}x${each(s.p99Ratios)}`,
      );
    }
    console.log(`  errors: ${errors}`);
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(
      values.out!,
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
          rows,
          merchants,
          bufferPool: values['buffer-pool'],
          concurrency,
          rounds,
          slices,
          sliceMs,
          loadSeconds,
          sizes,
          results,
          summary,
        },
        null,
        2,
      ),
    );
    console.log(`\nwrote ${values.out}`);
    if (errors > 0) process.exitCode = 1;
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await sim.close();
    for (const p of pools) await p.end();
    for (const l of locals) await l.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
