/**
 * Fails when the committed generated code (src/gen) differs from what
 * `buf generate` and `buf build` produce from proto/ now: generated code is
 * reproducible, and a proto change must be committed with its output.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const committed = path.join(root, 'src', 'gen');
const fresh = mkdtempSync(path.join(os.tmpdir(), 'payments-gen-'));

function files(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

try {
  const buf = path.join(root, 'node_modules', '.bin', 'buf');
  execFileSync(buf, ['generate', '-o', fresh], { cwd: root, stdio: 'inherit' });
  execFileSync(buf, ['build', '-o', path.join(fresh, 'src', 'gen', 'payments.binpb')], { cwd: root, stdio: 'inherit' });
  const expectedDir = path.join(fresh, 'src', 'gen');
  const expected = files(expectedDir).sort();
  const actual = files(committed).sort();
  const problems: string[] = [];
  for (const f of new Set([...expected, ...actual])) {
    if (!expected.includes(f)) problems.push(`${f}: committed but no longer generated`);
    else if (!actual.includes(f)) problems.push(`${f}: generated but not committed`);
    else if (!readFileSync(path.join(expectedDir, f)).equals(readFileSync(path.join(committed, f)))) problems.push(`${f}: differs from a fresh generation`);
  }
  if (problems.length > 0) {
    console.error(`generated code is stale; run \`npm run generate\` and commit:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`generated code is up to date (${expected.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
