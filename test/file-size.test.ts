import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '..');
const LIMIT = 400;

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/**
 * Files that fit in a head (docs/architecture.md): a source file over 400 lines, outside the
 * generated code, says in its first lines why it stays one idea.
 */
describe('source file size', () => {
  it(`keeps every file outside src/gen under ${LIMIT} lines, or says at its top why it stays one`, () => {
    const unexplained = ['src', 'scripts', 'test']
      .flatMap(tsFiles)
      .filter((f) => !f.startsWith(`src${path.sep}gen${path.sep}`))
      .filter((f) => {
        const lines = readFileSync(path.join(ROOT, f), 'utf8').split('\n');
        return lines.length > LIMIT && !/one idea|stays one file/.test(lines.slice(0, 12).join('\n'));
      });
    expect(unexplained).to.deep.equal([]);
  });
});
