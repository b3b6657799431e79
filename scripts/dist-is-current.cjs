/**
 * Exits 0 when dist/ holds a complete build of the current sources, 1 when `npm run build` has
 * to run. `npm start` runs it first (its prestart: `node scripts/dist-is-current.cjs || npm run -s
 * build`), so that a start with nothing to compile costs one small Node process instead of a
 * nested npm and tsc's own up-to-date check (about a second; see `npm run bench:start-time`).
 *
 * Current means: dist/main.js and dist/.build-complete (written by scripts/copy-build-assets.cjs
 * at the end of every successful build) exist, and no file the build reads (under src/, tests
 * excepted, and the two tsconfig files) was modified after that mark. A source changed or added
 * since, a branch checked out, a failed build: all make it rebuild. `rm -rf dist` forces a full
 * build.
 *
 * Plain JavaScript, run by node: it has to be fast, and it runs before anything is compiled.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function modifiedMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

function isCurrent() {
  const built = modifiedMs(path.join(ROOT, 'dist', '.build-complete'));
  if (built === undefined || modifiedMs(path.join(ROOT, 'dist', 'main.js')) === undefined) return false;
  const inputs = ['tsconfig.json', 'tsconfig.build.json'].map((file) => path.join(ROOT, file));
  for (const file of fs.readdirSync(path.join(ROOT, 'src'), { recursive: true })) {
    if (!String(file).endsWith('.test.ts')) inputs.push(path.join(ROOT, 'src', String(file)));
  }
  return inputs.every((file) => (modifiedMs(file) ?? Infinity) <= built);
}

if (isCurrent()) process.exit(0);
process.stderr.write('dist/ is missing or older than the sources: building it (npm run build)\n');
process.exit(1);
