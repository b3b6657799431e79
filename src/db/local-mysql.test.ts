import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import mysql from 'mysql2/promise';
import { type LocalMysql, LocalMysqlError, MysqlNotInstalledError, type StartLocalMysqlOptions, startLocalMysql } from './local-mysql.js';

/** The machine's shared server; a private instance must never end up there. */
const SHARED_SERVER_PORT = 3306;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const connection = await mysql.createConnection(url);
  try {
    const [rows] = await connection.query(sql, params);
    return rows as T[];
  } finally {
    await connection.end();
  }
}

describe('startLocalMysql', function () {
  // First init plus start takes a few seconds; a slow CI disk can take much longer.
  this.timeout(180_000);

  let tempDir: string;
  let started: LocalMysql[];

  beforeEach(async () => {
    tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-mysql-test-'));
    started = [];
  });

  afterEach(async () => {
    for (const server of started) await server.stop();
    await fs.rm(tempDir, { recursive: true, force: true });
  });

  async function start(opts: Partial<StartLocalMysqlOptions> = {}): Promise<LocalMysql> {
    const server = await startLocalMysql({ dataDir: path.join(tempDir, 'mysql'), ...opts });
    started.push(server);
    return server;
  }

  it('initialises an empty data dir and answers SELECT VERSION() on a private port', async () => {
    const server = await start();

    expect(server.port).to.be.greaterThan(0).and.not.equal(SHARED_SERVER_PORT);
    expect(server.url).to.equal(`mysql://root@127.0.0.1:${server.port}/payments`);
    const [row] = await query<{ version: string }>(server.url, 'SELECT VERSION() AS version');
    expect(row?.version).to.be.a('string').and.not.equal('');
    const [db] = await query<{ db: string }>(server.url, 'SELECT DATABASE() AS db');
    expect(db?.db).to.equal('payments');
  });

  it('keeps a committed row across kill(SIGKILL) and restart() on the same port', async () => {
    const server = await start({ database: 'crash_test' });
    await query(server.url, 'CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20))');
    await query(server.url, 'INSERT INTO t VALUES (1, ?)', ['acknowledged']);
    const { port, pid: crashedPid } = server;

    await server.kill('SIGKILL');
    expect(isAlive(crashedPid)).to.equal(false);

    await server.restart();
    expect(server.port).to.equal(port);
    expect(server.pid).to.not.equal(crashedPid);
    const rows = await query<{ note: string }>(server.url, 'SELECT note FROM t WHERE id = 1');
    expect(rows.map((r) => r.note)).to.deep.equal(['acknowledged']);
  });

  it('stop() ends the server process and closes its port', async () => {
    const server = await start();
    const { pid } = server;

    await server.stop();

    expect(isAlive(pid)).to.equal(false);
    let refused: unknown;
    await query(server.url, 'SELECT 1').catch((err: unknown) => (refused = err));
    expect(refused).to.have.property('code', 'ECONNREFUSED');
  });

  it('reuses the live server on the same data dir when reuseRunning is set', async () => {
    const first = await start();

    const second = await start({ reuseRunning: true });

    expect(second.pid).to.equal(first.pid);
    expect(second.port).to.equal(first.port);
    expect(second.url).to.equal(first.url);
    const [row] = await query<{ one: number }>(second.url, 'SELECT 1 AS one');
    expect(row?.one).to.equal(1);
  });

  it('refuses to start a second server on a live data dir without reuseRunning', async () => {
    const first = await start();

    let error: unknown;
    await start().catch((err: unknown) => (error = err));

    expect(error).to.be.instanceOf(LocalMysqlError);
    expect((error as Error).message)
      .to.contain(`pid ${first.pid}`)
      .and.contain('reuseRunning');
  });

  it('starts a fresh server when the pid file left by a crash is stale', async () => {
    const crashed = await start();
    const crashedPid = crashed.pid;
    await crashed.kill('SIGKILL');

    const fresh = await start({ reuseRunning: true });

    expect(fresh.pid).to.not.equal(crashedPid);
    expect(isAlive(fresh.pid)).to.equal(true);
    await query(fresh.url, 'SELECT 1');
  });

  it('puts the socket in a short path when the data dir path is too long for one', async () => {
    const dataDir = path.join(tempDir, 'd'.repeat(120), 'mysql');

    const server = await start({ dataDir });

    expect(Buffer.byteLength(server.socketPath)).to.be.at.most(107);
    expect(server.socketPath.startsWith(dataDir)).to.equal(false);
    await query(server.url, 'SELECT 1');
  });

  it('fails with the server log when the requested port is already taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    try {
      let error: unknown;
      await start({ port: address.port }).catch((err: unknown) => (error = err));

      expect(error).to.be.instanceOf(LocalMysqlError);
      expect((error as LocalMysqlError).addressInUse).to.equal(true);
      expect((error as Error).message).to.contain('exited before accepting connections');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('throws MysqlNotInstalledError with the install hint when no binary is found', async () => {
    const emptyDir = path.join(tempDir, 'no-binaries');
    await fs.mkdir(emptyDir);

    let error: unknown;
    await start({ searchPath: [emptyDir] }).catch((err: unknown) => (error = err));

    expect(error).to.be.instanceOf(MysqlNotInstalledError);
    const message = (error as Error).message;
    expect(message).to.contain('apt-get install -y mariadb-server');
    expect(message).to.contain('scripts/install-mysql.sh');
    expect(message).to.contain('MySQL 8');
    expect(message).to.contain('MYSQL_URL');
    expect(message).to.contain(emptyDir);
  });
});
