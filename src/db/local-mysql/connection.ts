/** One short-lived root connection to the private server, for probes and setup. */
import mysql from 'mysql2/promise';

/** Per-probe connect timeout; a local socket answers at once or not at all. */
const PROBE_CONNECT_TIMEOUT_MS = 2_000;

export async function withConnection<T>(
  target: { socketPath: string } | { host: string; port: number; database: string },
  use: (connection: mysql.Connection) => Promise<T>,
): Promise<T> {
  const connection = await mysql.createConnection({
    ...target,
    user: 'root',
    connectTimeout: PROBE_CONNECT_TIMEOUT_MS,
  });
  try {
    return await use(connection);
  } finally {
    connection.destroy();
  }
}
