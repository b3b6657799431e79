// Over 400 lines but one idea: one benchmark run (setup, the measured rounds, the report), read top to bottom.

/**
 * Cost of exactly-once: throughput and latency of the idempotent CreateCharge
 * against its ceilings, at several concurrencies, in one run.
 *
 *   npm run bench:throughput [-- --duration-ms 5000 --concurrency 1,16,64,256 --rounds 3 --quick]
 *
 *   [--slice-ms 1000 --warmup-ms 1000 --scenarios noop,create-plain,create-first,replay,replay-db,get]
 *
 * The scenarios of each target ratio (no interceptor / first call; GetCharge /
 * replay, and replay read from the database on a server that keeps no
 * outcomes in memory) run in one load generator and take turns in slices of
 * about a second, A B B A A B ..., so they meet the same machine: this shared
 * box drifts by more than the differences measured. Between slices the calls
 * in flight are drained, so the servers' and the database's counters and CPU
 * between two slices belong to one scenario. Each round runs every group once
 * at each concurrency (odd rounds in order, even rounds in reverse); ratios
 * are taken within a round and the median round is reported. Every scenario
 * is warmed up (JIT, connections) before anything is measured.
 *
 * Server processes, the load generator (its own process), the provider
 * simulator and the database share this machine's cores.
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
import { Charge, CreateChargeRequest } from '../../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../../src/merchants/merchant-store.js';
import { startProviderSimulator } from '../../src/simulator/simulator.js';
import { BENCH_CHARGE, type Scenario, type TargetTotals } from './load-generator.js';
import { type BenchServer, LoadGeneratorProcess, processCpuMs, slicePattern, startBenchServer, untilQuiet } from './load-generator-process.js';

const REPLAY_KEYS = 1000;

function log(message: string): void {
  process.stderr.write(`[bench:throughput] ${message}\n`);
}

/** BENCH_CPU_PROF=DIR writes a V8 CPU profile of each server and load-generator process there (see README: where the time goes). */
function profileFlags(name: string): string[] {
  const dir = process.env['BENCH_CPU_PROF'];
  return dir ? ['--cpu-prof', '--cpu-prof-dir', path.join(dir, name)] : [];
}

function startProfiledServer(args: string[]): Promise<BenchServer> {
  const name = args.includes('--plain') ? 'server-plain' : args.includes('--replay-cache-entries') ? 'server-replay-db' : 'server';
  return startBenchServer(args, profileFlags(name));
}

/** The server's own counters: database round trips, and bytes its JS heap has allocated. */
async function serverCounters(server: BenchServer): Promise<{ roundTrips: number; allocatedBytes: number }> {
  const res = await fetch(`http://127.0.0.1:${server.countersPort}/`);
  return (await res.json()) as { roundTrips: number; allocatedBytes: number };
}

async function dbStatus(pool: Pool): Promise<Record<string, number>> {
  const [rows] = await pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS WHERE Variable_name = 'Handler_commit'");
  return Object.fromEntries(rows.map((r) => [String(r['Variable_name']), Number(r['Value'])]));
}

/** A scenario waits at most this long for the database and the servers to go idle. */
const QUIET_MAX_WAIT_MS = 20_000;

/** Creates completed keys (for replays) and charges (for reads) through the idempotent server. */
async function seed(port: number, apiKey: string): Promise<{ keys: string[]; chargeIds: string[] }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const body = Buffer.from(CreateChargeRequest.encode(BENCH_CHARGE).finish());
  const keys = Array.from({ length: REPLAY_KEYS }, () => `seed-${randomUUID()}`);
  const chargeIds: string[] = [];
  for (let i = 0; i < keys.length; i += 50) {
    const batch = keys.slice(i, i + 50);
    const ids = await Promise.all(
      batch.map(
        (key) =>
          new Promise<string>((resolve, reject) => {
            const md = new grpc.Metadata();
            md.set('authorization', `Bearer ${apiKey}`);
            md.set('idempotency-key', key);
            client.makeUnaryRequest<Buffer, Buffer>(
              '/payments.v1.PaymentService/CreateCharge',
              (b) => b,
              (b) => b,
              body,
              md,
              (err, res) => (err || !res ? reject(err ?? new Error('no response')) : resolve(Charge.decode(res).id)),
            );
          }),
      ),
    );
    chargeIds.push(...ids);
  }
  client.close();
  return { keys, chargeIds };
}

function fmt(n: number, digits = 0): string {
  return n.toFixed(digits).padStart(8);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '5000' },
      'warmup-ms': { type: 'string', default: '1000' },
      'slice-ms': { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '1,16,64,256' },
      rounds: { type: 'string', default: '3' },
      scenarios: { type: 'string', default: 'noop,create-plain,create-first,replay,replay-db,get' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results/throughput.json' },
    },
  });
  const durationMs = values.quick ? 1000 : Number(values['duration-ms']);
  const warmupMs = values.quick ? 300 : Number(values['warmup-ms']);
  const sliceMs = values.quick ? 500 : Number(values['slice-ms']);
  const concurrencies = (values.quick ? '1,64' : values.concurrency!).split(',').map(Number);
  const rounds = values.quick ? 1 : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);

  let local: LocalMysql | undefined;
  let dataDir: string | undefined;
  let url = process.env['MYSQL_URL'];
  if (!url) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-throughput-db-'));
    log(`starting a private database in ${dataDir}`);
    local = await startLocalMysql({ dataDir });
    url = local.url;
  }
  const pool = createPool(url, 4);
  const servers: BenchServer[] = [];
  const sim = await startProviderSimulator();
  try {
    await migrate(pool);
    const { apiKey } = await new MerchantStore(pool).create(`bench-${randomUUID()}`);
    const common = ['--mysql-url', url, '--provider-url', sim.url, '--provider-key', sim.secretKey];
    const idempotent = await startProfiledServer(common);
    const plain = await startProfiledServer([...common, '--plain']);
    // The same interceptor with no completed outcomes in memory: every replay reads the database.
    const readingReplays = await startProfiledServer([...common, '--replay-cache-entries', '0']);
    servers.push(idempotent, plain, readingReplays);
    log('seeding completed keys and charges');
    const { keys, chargeIds } = await seed(idempotent.port, apiKey);

    const scenarios: Array<{ scenario: Scenario; server: BenchServer; label: string }> = [
      { scenario: 'noop', server: idempotent, label: 'no-op unary (health Check)' },
      { scenario: 'create-plain', server: plain, label: 'CreateCharge, no interceptor' },
      { scenario: 'create-first', server: idempotent, label: 'CreateCharge, interceptor, first call' },
      { scenario: 'replay', server: idempotent, label: 'CreateCharge, replay' },
      { scenario: 'replay-db', server: readingReplays, label: 'CreateCharge, replay read from DB' },
      { scenario: 'get', server: idempotent, label: 'GetCharge' },
    ];
    const selected = values.scenarios!.split(',').map((name) => {
      const found = scenarios.find((s) => s.scenario === name);
      if (!found) throw new Error(`unknown scenario ${name}; choose from ${scenarios.map((s) => s.scenario).join(', ')}`);
      return found;
    });
    // The scenarios of each target ratio share a load generator and take turns in slices.
    const groups = [['noop'], ['create-plain', 'create-first'], ['get', 'replay', 'replay-db']]
      .map((names) => selected.filter((s) => names.includes(s.scenario)))
      .filter((g) => g.length > 0);
    const quietPids = [local?.pid, ...servers.map((s) => s.child.pid)];
    const slicesPerTarget = Math.max(1, Math.round(durationMs / sliceMs));

    interface Totals {
      issued: number;
      completed: number;
      seconds: number;
      roundTrips: number;
      allocatedBytes: number;
      commits: number;
      cpuMs: { server: number; database: number; loadGenerator: number };
    }
    interface Snapshot {
      counters: Map<BenchServer, { roundTrips: number; allocatedBytes: number }>;
      commits: number;
      cpuMs: Map<BenchServer, number>;
      databaseCpuMs: number;
    }
    const snapshot = async (group: typeof selected): Promise<Snapshot> => {
      const distinct = [...new Set(group.map((g) => g.server))];
      const counters = new Map(await Promise.all(distinct.map(async (s) => [s, await serverCounters(s)] as const)));
      const commits = (await dbStatus(pool))['Handler_commit'] ?? 0;
      return { counters, commits, cpuMs: new Map(distinct.map((s) => [s, processCpuMs(s.child.pid)])), databaseCpuMs: processCpuMs(local?.pid) };
    };

    /**
     * Runs a group's scenarios in one load generator: a warm-up slice of each,
     * then `perTarget` measured slices of each, A B B A ..., each charged with
     * the server's and the database's counters and CPU between its start and
     * end (0: warm-up only).
     */
    const runGroup = async (group: typeof selected, concurrency: number, warmup: number, perTarget: number): Promise<Array<Totals & TargetTotals>> => {
      const lg = await LoadGeneratorProcess.start(
        {
          targets: group.map((g) => ({ scenario: g.scenario, port: g.server.port })),
          concurrency,
          apiKey,
          replayKeys: keys,
          chargeIds,
        },
        profileFlags(`load-${group.map((g) => g.scenario).join('+')}-${concurrency}`),
      );
      try {
        for (let t = 0; t < group.length; t++) {
          await lg.start(t, false);
          await delay(warmup);
          await lg.drain();
        }
        const totals: Totals[] = group.map(() => ({
          issued: 0,
          completed: 0,
          seconds: 0,
          roundTrips: 0,
          allocatedBytes: 0,
          commits: 0,
          cpuMs: { server: 0, database: 0, loadGenerator: 0 },
        }));
        // Nothing is in flight between slices, so what the servers and the database did
        // between two snapshots was done for that slice's calls.
        let before = await snapshot(group);
        for (const target of perTarget > 0 ? slicePattern(group.length, perTarget) : []) {
          await lg.start(target, true);
          await delay(sliceMs);
          const slice = await lg.drain();
          const after = await snapshot(group);
          const server = group[target]!.server;
          const t = totals[target]!;
          t.issued += slice.issued;
          t.completed += slice.completed;
          t.seconds += slice.seconds;
          t.roundTrips += after.counters.get(server)!.roundTrips - before.counters.get(server)!.roundTrips;
          t.allocatedBytes += after.counters.get(server)!.allocatedBytes - before.counters.get(server)!.allocatedBytes;
          // The status queries themselves add no commit (the no-op scenario reads 0.00).
          t.commits += after.commits - before.commits;
          t.cpuMs.server += after.cpuMs.get(server)! - before.cpuMs.get(server)!;
          t.cpuMs.database += after.databaseCpuMs - before.databaseCpuMs;
          t.cpuMs.loadGenerator += slice.cpuMs;
          before = after;
        }
        const byTarget = await lg.stop();
        return byTarget.map((t, i) => ({ ...t, ...totals[i]! }));
      } catch (err) {
        lg.child.kill();
        throw err;
      }
    };

    // JIT warm-up of every server path before anything is measured, at the highest
    // concurrency so the servers' pools have opened their connections (each new
    // connection's session set-up would count as a round trip of the calls measured).
    log('warming up every scenario');
    for (const group of groups) await runGroup(group, Math.max(...concurrencies), values.quick ? 300 : 3000, 0);

    const results: Array<{
      label: string;
      scenario: Scenario;
      concurrency: number;
      round: number;
      calls: number;
      errors: number;
      firstError: string | undefined;
      seconds: number;
      throughput: number;
      p50Ms: number;
      p99Ms: number;
      roundTripsPerCall: number;
      /** KiB the server allocated on its JS heap per call. */
      heapKiBPerCall: number;
      commitsPerCall: number;
      /** CPU microseconds per call spent by the server process, the database and the load generator. */
      cpuUsPerCall: { server: number; database: number; loadGenerator: number };
    }> = [];
    for (const concurrency of concurrencies) {
      for (let round = 1; round <= rounds; round++) {
        // Odd rounds run the groups in the order given, even rounds in reverse.
        for (const group of round % 2 === 1 ? groups : [...groups].reverse()) {
          const waited = await untilQuiet(quietPids, QUIET_MAX_WAIT_MS);
          log(
            `${group.map((g) => g.label).join(' | ')} at concurrency ${concurrency}, round ${round}/${rounds} ` +
              `(${slicesPerTarget} slice${slicesPerTarget > 1 ? 's' : ''} of ${Math.round(durationMs / slicesPerTarget)} ms each)` +
              (waited > 250 /* more than one idle sample */ ? `, after ${waited} ms for the database to go quiet` : ''),
          );
          const measured = await runGroup(group, concurrency, warmupMs, slicesPerTarget);
          measured.forEach((m, i) => {
            // Per-call figures divide by the calls issued in the measured slices.
            const calls = Math.max(1, m.issued);
            results.push({
              label: group[i]!.label,
              scenario: m.scenario,
              concurrency,
              round,
              calls: m.calls,
              errors: m.errors,
              firstError: m.firstError,
              seconds: m.seconds,
              throughput: m.completed / m.seconds,
              p50Ms: m.p50Ms,
              p99Ms: m.p99Ms,
              roundTripsPerCall: m.roundTrips / calls,
              heapKiBPerCall: m.allocatedBytes / 1024 / calls,
              commitsPerCall: m.commits / calls,
              cpuUsPerCall: {
                server: (m.cpuMs.server * 1000) / calls,
                database: (m.cpuMs.database * 1000) / calls,
                loadGenerator: (m.cpuMs.loadGenerator * 1000) / calls,
              },
            });
            const last = results.at(-1)!;
            log(
              `  ${last.label.padEnd(38)} ${fmt(last.throughput)} calls/s  p50 ${last.p50Ms.toFixed(2)} ms  p99 ${last.p99Ms.toFixed(2)} ms  errors ${last.errors}${last.firstError ? ` (${last.firstError})` : ''}`,
            );
          });
        }
      }
    }

    type Result = (typeof results)[number];
    const inRound = (scenario: Scenario, c: number, round: number): Result | undefined =>
      results.find((r) => r.scenario === scenario && r.concurrency === c && r.round === round);
    /** The round with the median throughput of a scenario, so the table shows one real run, not a blend. */
    const medianRun = (scenario: Scenario, c: number): Result | undefined => {
      const runs = results.filter((r) => r.scenario === scenario && r.concurrency === c).sort((a, b) => a.throughput - b.throughput);
      return runs[Math.floor((runs.length - 1) / 2)];
    };
    const tableRows = concurrencies.flatMap((c) => selected.map((s) => medianRun(s.scenario, c)).filter((r): r is Result => r !== undefined));
    console.log(rounds > 1 ? `\nmedian of ${rounds} rounds per row` : '');
    console.log(
      '\nscenario                                conc   calls/s   p50 ms   p99 ms  DB round trips/call  Handler_commit/call   CPU µs/call: server   database   load gen   server heap KiB/call',
    );
    for (const r of tableRows) {
      const cpu = r.cpuUsPerCall;
      console.log(
        `${r.label.padEnd(40)}${String(r.concurrency).padStart(4)} ${fmt(r.throughput)} ${fmt(r.p50Ms, 2)} ${fmt(r.p99Ms, 2)} ${fmt(r.roundTripsPerCall, 2).padStart(20)} ${fmt(r.commitsPerCall, 2).padStart(20)} ${fmt(cpu.server).padStart(21)} ${fmt(cpu.database).padStart(10)} ${fmt(cpu.loadGenerator).padStart(10)} ${fmt(r.heapKiBPerCall, 1).padStart(22)}`,
      );
    }
    console.log(`\nratios within a round${rounds > 1 ? ': median (each round)' : ''}`);
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const ratios: Array<{
      concurrency: number;
      firstOverPlain: number[];
      replayOverGet: number[];
      replayDbOverGet: number[];
      replayDbCpuOverGetCpu: number[];
      firstP99OverPlainP99: number[];
    }> = [];
    for (const c of concurrencies) {
      const row = {
        concurrency: c,
        firstOverPlain: [] as number[],
        replayOverGet: [] as number[],
        replayDbOverGet: [] as number[],
        replayDbCpuOverGetCpu: [] as number[],
        firstP99OverPlainP99: [] as number[],
      };
      for (let round = 1; round <= rounds; round++) {
        const first = inRound('create-first', c, round);
        const plainRow = inRound('create-plain', c, round);
        const replay = inRound('replay', c, round);
        const replayDb = inRound('replay-db', c, round);
        const get = inRound('get', c, round);
        if (first && plainRow) {
          row.firstOverPlain.push(first.throughput / plainRow.throughput);
          row.firstP99OverPlainP99.push(first.p99Ms / plainRow.p99Ms);
        }
        if (replay && get) row.replayOverGet.push(replay.throughput / get.throughput);
        if (replayDb && get) {
          row.replayDbOverGet.push(replayDb.throughput / get.throughput);
          row.replayDbCpuOverGetCpu.push(replayDb.cpuUsPerCall.server / get.cpuUsPerCall.server);
        }
      }
      ratios.push(row);
      const show = (xs: number[]): string =>
        xs.length === 0 ? 'n/a' : `${median(xs).toFixed(2)}x${xs.length > 1 ? ` (${xs.map((x) => x.toFixed(2)).join(', ')})` : ''}`;
      console.log(
        `  concurrency ${String(c).padStart(3)}: first call / no interceptor = ${show(row.firstOverPlain)} [target >= 0.6 at 64]` +
          `   replay / GetCharge = ${show(row.replayOverGet)} [target >= 1.0]` +
          `   replay read from DB / GetCharge = ${show(row.replayDbOverGet)} [target >= 1.0 at 64]` +
          `   its server CPU per call / GetCharge's = ${show(row.replayDbCpuOverGetCpu)} [target <= 1.2]` +
          `   first p99 / no-interceptor p99 = ${show(row.firstP99OverPlainP99)} [target <= 2.5]`,
      );
    }
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(
      values.out!,
      JSON.stringify(
        {
          machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
          durationMs,
          rounds,
          results,
          ratios,
        },
        null,
        2,
      ),
    );
    console.log(`\nwrote ${values.out}`);
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await sim.close();
    await pool.end();
    await local?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
