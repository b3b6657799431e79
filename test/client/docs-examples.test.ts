import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** The examples the tests run are the examples the docs show, character for character. */
describe('docs/clients.md examples', () => {
  it('shows docs/examples/create-charge.ts (type-checked and run by the package test) verbatim', () => {
    expect(read('docs/clients.md')).to.include(`\`\`\`ts\n${read('docs/examples/create-charge.ts')}\`\`\``);
  });

  it('shows docs/examples/create_charge.py (run by the service-config test) verbatim', () => {
    expect(read('docs/clients.md')).to.include(`\`\`\`python\n${read('docs/examples/create_charge.py')}\`\`\``);
  });
});
