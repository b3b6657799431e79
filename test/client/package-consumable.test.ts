/**
 * The client library as another project gets it: `npm run build`, `npm pack`, the tarball
 * installed into a fresh project, the documented example (docs/examples/create-charge.ts)
 * type-checked there with strict settings and run against a real server.
 *
 * npm installs the tarball's dependencies from the local cache (`--prefer-offline`: the ones
 * this repository installed are there); only what is missing is fetched from the registry.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { startTestServer, type TestServer } from '../support/test-server.js';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'docs', 'examples', 'create-charge.ts');
/** Build, pack and install each take seconds; an install that has to fetch takes longer. */
const STEP_TIMEOUT_MS = 120_000;
/** Versions the example is type-checked with: those this repository develops with. */
const TYPESCRIPT = `typescript@${(require('typescript/package.json') as { version: string }).version}`;
const NODE_TYPES = `@types/node@${(require('@types/node/package.json') as { version: string }).version}`;

interface Run {
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${error.message}):\n${stdout}\n${stderr}`, { cause: error }));
    });
  });
}

describe('client library as an installed package', function () {
  this.timeout(5 * STEP_TIMEOUT_MS);
  let dir: string;
  let packed: Array<{ path: string }>;
  let t: TestServer;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'payments-client-consumer-'));
    await run('npm', ['run', '-s', 'build'], ROOT);
    const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packed = info!.files;
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'payments-consumer', version: '1.0.0', private: true }));
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          types: ['node'],
          outDir: 'out',
        },
        files: ['create-charge.ts'],
      }),
    );
    copyFileSync(EXAMPLE, path.join(dir, 'create-charge.ts'));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', `./${info!.filename}`, TYPESCRIPT, NODE_TYPES], dir);
    t = await startTestServer();
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ships the client, the generated code and the proto with its service config, and no server code', () => {
    const files = packed.map((f) => f.path).sort();
    expect(files).to.include.members([
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/gen/payments.binpb',
      'proto/payments/v1/payments.proto',
      'proto/payments/v1/service_config.json',
    ]);
    const unexpected = files.filter(
      (f) => !/^(dist\/(client|gen)\/|dist\/grpc\/status-details\.|proto\/payments\/|docs\/clients\.md$|README\.md$|package\.json$|LICENSE)/.test(f),
    );
    expect(unexpected).to.deep.equal([]);
  });

  it('type-checks the documented example against the installed package and charges once with it', async () => {
    await run(path.join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], dir);
    const order = `consumer-${randomUUID()}`;

    const { stdout } = await run(process.execPath, [path.join('out', 'create-charge.js'), order], dir, {
      PAYMENTS_TARGET: `127.0.0.1:${t.port}`,
      PAYMENTS_API_KEY: t.apiKey,
    });

    const printed = JSON.parse(stdout.trim()) as {
      chargeId: string;
      status: string;
      providerReference: string;
      replayed: boolean;
      attempts: number;
      idempotencyKey: string;
    };
    const payments = t.sim.paymentIntents().filter((pi) => pi.metadata['order_id'] === order);
    expect(payments).to.have.length(1);
    expect(printed).to.include({ status: 'CHARGE_STATUS_SUCCEEDED', providerReference: payments[0]?.id, replayed: false, attempts: 1 });
    expect(printed.chargeId).to.match(/^ch_/);
    expect(printed.idempotencyKey).to.be.a('string').and.not.equal('');
  });

  it('imports from an ES module as well', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { PaymentsClient, PaymentsError, Code } from 'exactly-once-payments/client'; console.log(typeof PaymentsClient, typeof PaymentsError, Code.UNAVAILABLE);",
      ],
      dir,
    );
    expect(stdout.trim()).to.equal('function function 14');
  });
});
