import { expect } from 'chai';
import { createLogger, safeError } from './logger.js';

/** A driver error as mysql2 builds it: the statement and its values are on the error. */
function driverError(): Error {
  return Object.assign(new Error("Data too long for column 'metadata' at row 1: 'customer secret'"), {
    code: 'ER_DATA_TOO_LONG',
    errno: 1406,
    sqlState: '22001',
    sqlMessage: "Data too long for column 'metadata' at row 1",
    sql: "INSERT INTO charges (metadata) VALUES ('customer secret')",
  });
}

describe('logger redaction', () => {
  it('logs a database driver error by its codes only: no message, statement or values', () => {
    const out = safeError(driverError());
    expect(out).to.deep.equal({ type: 'Error', code: 'ER_DATA_TOO_LONG', errno: 1406, sqlState: '22001' });
  });

  it("logs a dead connection's and a statement timeout's errors by their codes only", () => {
    const dead = Object.assign(new Error('connection to 10.0.0.7:3306 lost while running a statement'), { fatal: true });
    expect(safeError(dead)).to.deep.equal({ type: 'Error', fatal: true });
    const timeout = Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
    expect(safeError(timeout)).to.deep.equal({ type: 'Error', code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
  });

  it('keeps message and stack of other errors, and follows causes through the same redaction', () => {
    const out = safeError(new Error('outer', { cause: driverError() }));
    expect(out['message']).to.equal('outer');
    expect(String(out['stack'])).to.include('outer');
    expect(out['cause']).to.deep.equal({ type: 'Error', code: 'ER_DATA_TOO_LONG', errno: 1406, sqlState: '22001' });
  });

  it('writes no SQL, values, keys or metadata in a log line, whatever the caller passes', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(line) });
    log.error({ err: driverError(), metadata: { note: 'customer secret' }, key: 'idem-123', sql: 'SELECT 1' }, 'failed');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.not.match(/customer secret|idem-123|SELECT|INSERT/);
    expect(lines[0]).to.include('ER_DATA_TOO_LONG');
  });
});
