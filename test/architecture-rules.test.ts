import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');

/**
 * The layering rule of `npm run check` (.dependency-cruiser.cjs) run on a copy
 * of src/ with one deliberate violation each: the rule must catch it. The
 * unchanged copy must pass, so each failure is the violation's.
 */
describe('the dependency rule of npm run check', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'depcruise-'));
    cpSync(path.join(ROOT, 'src'), path.join(dir, 'src'), { recursive: true });
    for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(path.join(ROOT, f), path.join(dir, f));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function cruise(): Promise<{ ok: boolean; output: string }> {
    try {
      const { stdout } = await promisify(execFile)(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs'], { cwd: dir });
      return { ok: true, output: stdout };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  it('passes the tree as it is', async () => {
    const r = await cruise();
    expect(r.ok, r.output).to.equal(true);
    expect(r.output).to.match(/no dependency violations found \(\d+ modules/);
  });

  it('fails an import of the provider simulator from production code', async () => {
    appendFileSync(path.join(dir, 'src/payments/charge-status.ts'), "\nimport '../simulator/simulator.js';\n");
    const r = await cruise();
    expect(r.ok).to.equal(false);
    expect(r.output).to.include('simulator-is-a-tool: src/payments/charge-status.ts → src/simulator/simulator.ts');
  });

  it('fails a static import of the simulator in main.ts (it must be loaded lazily)', async () => {
    const main = path.join(dir, 'src/main.ts');
    writeFileSync(main, `import { startProviderSimulator as _sim } from './simulator/simulator.js';\n${readFileSync(main, 'utf8')}`);
    const r = await cruise();
    expect(r.ok).to.equal(false);
    expect(r.output).to.include('simulator-loaded-lazily: src/main.ts → src/simulator/simulator.ts');
  });

  it('fails an upward import: the transport layer naming the idempotency layer', async () => {
    appendFileSync(path.join(dir, 'src/grpc/api-error.ts'), "\nimport type { IdempotencyEvent as _E } from '../idempotency/idempotency-events.js';\n");
    const r = await cruise();
    expect(r.ok).to.equal(false);
    expect(r.output).to.include('grpc-below-merchants: src/grpc/api-error.ts → src/idempotency/idempotency-events.ts');
  });

  it('fails an import cycle', async () => {
    appendFileSync(path.join(dir, 'src/db/query.ts'), "\nimport '../db/pool.js';\n");
    appendFileSync(path.join(dir, 'src/db/pool.ts'), "\nimport '../db/query.js';\n");
    const r = await cruise();
    expect(r.ok).to.equal(false);
    expect(r.output).to.include('no-circular');
  });
});
