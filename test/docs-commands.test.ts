import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { checkDocs, type DocProblem } from '../scripts/check-docs.js';

const ROOT = path.resolve(__dirname, '..');

/** The --help of a tsx script takes a second or two to start, and the check runs a few. */
const CHECK_TIMEOUT_MS = 120_000;

const messages = (problems: DocProblem[]): string[] => problems.map((p) => `${p.file}:${p.line}: ${p.message}`);

/**
 * A copy of what the check reads (package.json, config, proto, scripts, simulator, examples, docs)
 * in a temporary directory, so a test can break one README line and see the check fail.
 */
function fixture(readme: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'docs-check-'));
  for (const p of ['package.json', 'tsconfig.json', 'src', 'proto', 'scripts', 'docs', 'test/clients']) {
    cpSync(path.join(ROOT, p), path.join(dir, p), { recursive: true });
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'README.md'), readme);
  return dir;
}

/** A README holding only the given block (the tests below look for the problem it causes). */
function readmeWith(block: string): string {
  return `# fixture\n\n${block}\n`;
}

function checkReadme(block: string): string[] {
  const dir = fixture(readmeWith(block));
  try {
    return messages(checkDocs(dir, { run: false, files: ['README.md'] }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('docs commands (scripts/check-docs.ts)', function () {
  this.timeout(CHECK_TIMEOUT_MS);

  it('finds every command in README.md and docs/*.md working as written', () => {
    expect(messages(checkDocs(ROOT))).to.deep.equal([]);
  });

  it('fails when a README command names an npm script that package.json lacks', () => {
    const problems = checkReadme('<!-- needs: database -->\n```sh\nnpm run -s merchant -- create --name demo\n```');
    expect(problems.some((p) => p.includes('package.json has no "merchant" script'))).to.equal(true, problems.join('\n'));
  });

  it('fails when a README command names a file that does not exist', () => {
    const problems = checkReadme('<!-- needs: minutes -->\n```sh\nscripts/mocha-one.sh test/no-such.test.ts\n```');
    expect(problems.some((p) => p.includes('no such file or directory: test/no-such.test.ts'))).to.equal(true, problems.join('\n'));
  });

  it('fails on a flag the script does not accept, judged by its --help', () => {
    const problems = checkReadme('<!-- needs: database -->\n```sh\nnpm run -s keys -- attention --limt 5\n```');
    expect(problems.some((p) => p.includes('--limt is not in its --help'))).to.equal(true, problems.join('\n'));
  });

  it('fails on a flag of a script without --help that is not one of its parseArgs options', () => {
    const problems = checkReadme('<!-- needs: minutes -->\n```sh\nnpm run -s bench:throughput -- --concurency 64\n```');
    expect(problems.some((p) => p.includes('--concurency is not an option of scripts/bench/throughput.ts'))).to.equal(true, problems.join('\n'));
  });

  it('fails on a grpcurl method the proto does not define', () => {
    const problems = checkReadme(
      '<!-- needs: server -->\n```sh\ngrpcurl -plaintext -H "authorization: Bearer $API_KEY" -d \'{}\' 127.0.0.1:50051 payments.v1.PaymentService/DeleteCharge\n```',
    );
    expect(problems.some((p) => p.includes('no method payments.v1.PaymentService/DeleteCharge'))).to.equal(true, problems.join('\n'));
  });

  it('fails on an environment variable that npm start does not read', () => {
    const problems = checkReadme('<!-- needs: minutes -->\n```sh\nPAYMENTS_PORT=50052 npm start\n```');
    expect(problems.some((p) => p.includes('npm start does not read PAYMENTS_PORT'))).to.equal(true, problems.join('\n'));
  });

  it('fails on an unmarked block that does more than print, and on an unknown marker', () => {
    expect(checkReadme('```sh\nnpm start\n```').some((p) => p.includes('unmarked block runs "npm start"'))).to.equal(true);
    expect(checkReadme('<!-- needs: coffee -->\n```sh\nnpm start\n```').some((p) => p.includes('unknown need "coffee"'))).to.equal(true);
  });

  it('runs unmarked blocks, and fails when one exits non-zero', () => {
    const run = (exitCode: number): string[] => {
      const dir = fixture(readmeWith('```sh\nnpm run -s keys -- --help\n```'));
      try {
        writeFileSync(path.join(dir, 'scripts/keys.ts'), `// handles --help\nconsole.log('Usage: keys');\nprocess.exit(${exitCode});\n`);
        return messages(checkDocs(dir, { files: ['README.md'] })).filter((p) => p.includes('when run'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    expect(run(0)).to.deep.equal([]);
    expect(run(3).join('\n')).to.include('the block failed or printed nothing when run');
  });

  it('fails on a link to a heading that does not exist, and on a TypeScript snippet the tests do not run', () => {
    expect(checkReadme('See [recovery](docs/recovery.md#no-such-heading).').some((p) => p.includes('no heading for #no-such-heading'))).to.equal(true);
    expect(
      checkReadme('```ts\nconst payments = new PaymentsClient({ target });\n```').some((p) => p.includes('not an excerpt of a file in docs/examples/')),
    ).to.equal(true);
  });

  it('fails when src/config.ts reads a variable the README configuration table does not list', () => {
    const dir = fixture(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    try {
      writeFileSync(
        path.join(dir, 'src/config.ts'),
        `${readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8')}\nexport const extra = process.env['PAYMENTS_SECRET_FEATURE'];\n`,
      );
      const problems = messages(checkDocs(dir, { run: false, files: ['README.md'] }));
      expect(problems.some((p) => p.includes('src/config.ts reads PAYMENTS_SECRET_FEATURE'))).to.equal(true, problems.join('\n'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
