import type { Pool } from '../../src/db/pool.js';

/** SQL text of a driver query() call: a string, or an options object with `sql`. */
function sqlOf(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null && typeof (arg as { sql?: unknown }).sql === 'string') return (arg as { sql: string }).sql;
  return '';
}

export interface StatementCounter {
  /** Statements (round trips: a multi-statement batch counts once) sent since start, the readiness probe's excluded. */
  readonly count: number;
  /** The SQL of each, in order. */
  readonly statements: readonly string[];
  reset(): void;
  /** Puts the driver's method back. */
  restore(): void;
}

/** The readiness probe's statement (src/db/store-probe.ts): it runs on a timer, not because of a call. */
const PROBE_SQL = 'SELECT 1';

/**
 * Counts every statement the driver sends, on every pool of this process, by wrapping the
 * query method of mysql2's connection class (found from a live pooled connection, as the
 * class is not exported). Tests that use it run alone in their process's timeline, so what it
 * counts between two points is what those calls caused.
 */
export async function countStatements(pool: Pool): Promise<StatementCounter> {
  const conn = await pool.getConnection();
  let proto: object | null = (conn as unknown as { connection: object }).connection;
  conn.release();
  while (proto && !Object.hasOwn(proto, 'query')) proto = Object.getPrototypeOf(proto) as object | null;
  if (!proto) throw new Error('cannot find the driver query method');
  const target = proto as { query: (...args: unknown[]) => unknown };
  const original = target.query;
  let statements: string[] = [];
  target.query = function (this: unknown, ...args: unknown[]) {
    const sql = sqlOf(args[0]);
    if (sql !== PROBE_SQL) statements.push(sql);
    return original.apply(this, args);
  };
  return {
    get count() {
      return statements.length;
    },
    get statements() {
      return statements;
    },
    reset: () => {
      statements = [];
    },
    restore: () => {
      target.query = original;
    },
  };
}
