/**
 * The compiled service: `npm run build` compiles all of src/ into dist/, and the server runs from
 * there (`node --enable-source-maps dist/main.js`, what `npm start` and production run) with
 * everything it reads at run time found next to the compiled code, not in src/.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadMigrations } from '../src/db/migrations.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { checkHealth } from './support/health-watch.js';
import { FROM_DIST, type ServerProcess, startServerProcess } from './support/server-process.js';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
/** A build from nothing type-checks the whole service: tens of seconds on a busy 2-core machine. */
const BUILD_TIMEOUT_MS = 240_000;
/** Readiness follows the first store probe, which follows listening by milliseconds. */
const READY_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 50;
/** Variables that configure the service: none of the caller's may leak into the started server. */
const CONFIG_VARIABLE = /^(MYSQL_URL|METRICS_LISTEN|LOG_LEVEL|PAYMENTS_.*|IDEMPOTENCY_.*)$/;

function run(command: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: ROOT, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${error.message}):\n${stdout}\n${stderr}`, { cause: error }));
    });
  });
}

/** Paths of the files under `dir`, relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, relative) : [relative];
  });
}

describe('compiled build (dist/)', function () {
  this.timeout(BUILD_TIMEOUT_MS);

  before(async () => {
    await run('npm', ['run', '-s', 'build']);
  });

  it('compiles every source file except the tests, with source maps, and copies the files the code reads at run time', () => {
    const sources = filesUnder(path.join(ROOT, 'src'));
    const built = new Set(filesUnder(DIST));
    for (const ts of sources.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const js = ts.replace(/\.ts$/, '.js');
      expect(built.has(js), `dist/${js}`).to.equal(true);
      expect(built.has(`${js}.map`), `dist/${js}.map`).to.equal(true);
      expect(readFileSync(path.join(DIST, js), 'utf8')).to.match(/\n\/\/# sourceMappingURL=\S+\.js\.map\s*$/);
    }
    expect(
      [...built].filter((f) => /\.test\./.test(f)),
      'no tests in dist/',
    ).to.deep.equal([]);
    // Runtime files: the migrations' SQL (db/migrations.ts) and the descriptor set (server.ts, client/keyed-methods.ts).
    const assets = sources.filter((f) => !f.endsWith('.ts'));
    expect(assets).to.include('gen/payments.binpb');
    expect(assets.filter((f) => f.startsWith('db/migrations/') && f.endsWith('.sql'))).to.have.length(loadMigrations().length);
    for (const asset of assets) {
      expect(built.has(asset), `dist/${asset}`).to.equal(true);
      expect(readFileSync(path.join(DIST, asset)).equals(readFileSync(path.join(ROOT, 'src', asset))), `dist/${asset} is a copy of src/${asset}`).to.equal(
        true,
      );
    }
  });

  it('starts from dist/main.js on an empty database, applies the migrations from dist/, answers SERVING, and stops on SIGTERM', async () => {
    const name = `compiled_${randomBytes(6).toString('hex')}`;
    const admin = await sharedPool();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(sharedDatabaseUrl());
    url.pathname = `/${name}`;
    let server: ServerProcess | undefined;
    try {
      // The caller's own configuration (a CI's LOG_LEVEL, say) is blanked: empty counts as unset.
      const blanked = Object.fromEntries(
        Object.keys(process.env)
          .filter((key) => CONFIG_VARIABLE.test(key))
          .map((key) => [key, '']),
      );
      server = await startServerProcess(
        { ...blanked, MYSQL_URL: url.toString(), PAYMENTS_LISTEN: '127.0.0.1:0', METRICS_LISTEN: '127.0.0.1:0', LOG_LEVEL: 'info' },
        FROM_DIST,
      );

      const applied = server.logs.find((l) => l['msg'] === 'applied database migrations');
      expect(applied?.['versions'], 'every migration applied, read from dist/db/migrations').to.deep.equal(loadMigrations().map((m) => m.version));
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        const ready = await checkHealth(server.port, 'payments.v1.PaymentService');
        if (ready.status === 'SERVING') break;
        if (Date.now() > deadline) throw new Error(`payments.v1.PaymentService not SERVING within ${READY_TIMEOUT_MS} ms: ${JSON.stringify(ready)}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
      expect(await checkHealth(server.port, '')).to.deep.equal({ status: 'SERVING' });

      const code = await server.stop('SIGTERM');
      expect(code).to.equal(0);
      expect(server.logs.map((l) => l['msg'])).to.include('stopped');
    } finally {
      if (server && server.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL');
      await admin.query(`DROP DATABASE ${name}`);
    }
  });

  it('reports errors of the compiled code at their lines in the TypeScript sources', async () => {
    const { stdout } = await run(process.execPath, [
      '--enable-source-maps',
      '-e',
      "try { require('./dist/config.js').loadConfig({ PAYMENTS_TLS_CERT: 'cert.pem' }); } catch (err) { console.log(err.stack); }",
    ]);
    expect(stdout).to.include('PAYMENTS_TLS_CERT and PAYMENTS_TLS_KEY must be set together');
    expect(stdout).to.match(/src\/config\.ts:\d+:\d+/);
    expect(stdout).not.to.match(/dist\/config\.js:\d+/);
  });
});
