/**
 * A private MySQL/MariaDB server for tests and `npm start`: one server process per data dir,
 * listening on 127.0.0.1 only, with root and no password.
 *
 * Lifecycle of a data dir:
 *
 *   missing/empty ──init (into a temp sibling, then rename)──▶ initialised
 *   initialised ──start──▶ running ──stop() (SIGTERM)──▶ initialised
 *                          running ──kill('SIGKILL')──▶ crashed (stale pid file)
 *                          crashed ──restart(), or start with reuseRunning──▶ running
 *
 * Durability matters more than speed here: tests SIGKILL the server and expect every
 * acknowledged commit to survive, so the server runs with `innodb_flush_log_at_trx_commit=1`.
 *
 * The parts live in local-mysql/:
 *   start-local-mysql.ts  startLocalMysql: adopt a running server or initialise and start one
 *   discovery.ts          finding mariadbd/mysqld and the data-dir init tool
 *   data-dir.ts           initialising a data dir once, crash- and race-safe
 *   start-server.ts       spawning the server, waiting until it answers, preparing root and the database
 *   lifecycle.ts          the LocalMysql a caller holds: kill, restart, stop, release
 *   adoption.ts           finding and adopting a server a previous process left running
 *   state-file.ts         pid, port and socket of the server, in the data dir
 *   holders.ts            which live processes hold a shared server (the last one stops it)
 *   live-servers.ts       the exit hook that stops servers this process still holds
 *   server-handle.ts      a spawned or an adopted server process: signal it, wait for its exit
 *   server-files.ts       pid file, logs and socket path; processes.ts, file-system.ts,
 *                         connection.ts, run-command.ts, poll-until.ts: small helpers of those
 */
export { MysqlNotInstalledError } from './local-mysql/discovery.js';
export type { LocalMysql } from './local-mysql/lifecycle.js';
export { LocalMysqlError } from './local-mysql/local-mysql-error.js';
export { type StartLocalMysqlOptions, startLocalMysql } from './local-mysql/start-local-mysql.js';
