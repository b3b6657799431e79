/**
 * The last step of `npm run build`, after tsc: copies every file under src/ that tsc does not
 * compile (the migrations' SQL, the descriptor set payments.binpb) to the same place under dist/,
 * where the compiled code looks for it (next to itself, through __dirname), then writes
 * dist/.build-complete, the mark scripts/dist-is-current.cjs compares sources against.
 *
 * Plain JavaScript, run by node: it runs on every build, before anything is compiled to run it.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

fs.cpSync(SRC, DIST, { recursive: true, filter: (file) => !file.endsWith('.ts') });
// Written last, and only when tsc and the copy succeeded: a failed build leaves the previous mark,
// so the next `npm start` builds again and shows the errors again.
fs.writeFileSync(path.join(DIST, '.build-complete'), `${new Date().toISOString()}\n`);
