// Over 400 lines but one idea: the abuse corpus, one case per test against one shared server.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import { CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { MerchantStore } from '../src/merchants/merchant-store.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';
import { sharedDatabaseUrl, sharedPool } from './support/database.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

const CREATE = '/payments.v1.PaymentService/CreateCharge';
const GET = '/payments.v1.PaymentService/GetCharge';
const LIST = '/payments.v1.PaymentService/ListCharges';

/** A case that does not end within this long is a hang, which is itself a failure. */
const CASE_TIMEOUT_MS = 10_000;
/** The server's resident memory may grow at most this much over four rounds of the corpus (V8 keeps freed heap for a while, so RSS is a coarse bound); a quarter of it per three rounds. */
const MAX_RSS_GROWTH_BYTES = 128 * 1024 * 1024;

/** How a raw call ended: a gRPC status, an HTTP status without one, a stream reset, or a closed connection. */
interface Ending {
  httpStatus?: number;
  grpcStatus?: number;
  grpcMessage?: string;
  reset?: number;
  closed?: boolean;
}

function grpcFrame(message: Uint8Array, compressedFlag = 0, declaredLength = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(compressedFlag, 0);
  out.writeUInt32BE(declaredLength, 1);
  Buffer.from(message).copy(out, 5);
  return out;
}

function valid(overrides: Partial<CreateChargeRequest> = {}): CreateChargeRequest {
  return { amount: '1000', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: '', description: '', metadata: {}, captureMethod: 0, ...overrides };
}

function encode(req: CreateChargeRequest): Uint8Array {
  return CreateChargeRequest.encode(req).finish();
}

/** Replaces the bytes of `marker` (ASCII) in an encoded message with bytes that are not UTF-8, keeping the length. */
function withInvalidUtf8(message: Uint8Array, marker: string): Uint8Array {
  const buf = Buffer.from(message);
  const at = buf.indexOf(Buffer.from(marker, 'ascii'));
  if (at < 0) throw new Error('marker not found');
  for (let i = 0; i < marker.length; i++) buf[at + i] = i % 2 === 0 ? 0xff : 0xc3;
  return buf;
}

/** Resident set size of a process (Linux /proc), in bytes. */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

describe('bad-input and abuse corpus (raw HTTP/2 against a server process)', function () {
  this.timeout(180_000);
  let sim: ProviderSimulator;
  let server: ServerProcess;
  let apiKey: string;
  let rssBefore = 0;
  let requestsBefore = 0;

  before(async () => {
    const pool = await sharedPool();
    ({ apiKey } = await new MerchantStore(pool).create(`corpus-${randomUUID()}`));
    sim = await startProviderSimulator();
    server = await startServerProcess({ MYSQL_URL: sharedDatabaseUrl(), PAYMENTS_PROVIDER_URL: sim.url, PAYMENTS_PROVIDER_SECRET_KEY: sim.secretKey });
    // Warm up (JIT, pool connections) with one real call, so the memory baseline is a running server's.
    const ok = await call({ path: CREATE, body: grpcFrame(encode(valid())), headers: keyed() });
    expect(ok.grpcStatus).to.equal(Code.OK);
    rssBefore = rssOf(server.child.pid!);
    requestsBefore = sim.stats().requests;
  });

  after(async () => {
    await server?.stop();
    await sim?.close();
  });

  function keyed(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${apiKey}`, 'idempotency-key': randomUUID(), ...extra };
  }

  /** One request on its own connection; resolves with how it ended. */
  function call(o: {
    path: string;
    body?: Buffer;
    headers?: Record<string, string>;
    contentType?: string;
    session?: http2.ClientHttp2Session;
  }): Promise<Ending> {
    return new Promise((resolve, reject) => {
      const session = o.session ?? http2.connect(`http://127.0.0.1:${server.port}`);
      const ending: Ending = {};
      const timer = setTimeout(() => reject(new Error(`no ending within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        if (!o.session) session.close();
        resolve(ending);
      };
      session.on('error', () => undefined);
      session.on('close', () => {
        ending.closed = true;
        finish();
      });
      const req = session.request({
        ':method': 'POST',
        ':path': o.path,
        'content-type': o.contentType ?? 'application/grpc',
        te: 'trailers',
        ...(o.headers ?? {}),
      });
      req.on('response', (h) => {
        ending.httpStatus = Number(h[':status']);
        if (h['grpc-status'] !== undefined) ending.grpcStatus = Number(h['grpc-status']);
        if (h['grpc-message'] !== undefined) ending.grpcMessage = decodeURIComponent(String(h['grpc-message']));
      });
      req.on('trailers', (t) => {
        if (t['grpc-status'] !== undefined) ending.grpcStatus = Number(t['grpc-status']);
        if (t['grpc-message'] !== undefined) ending.grpcMessage = decodeURIComponent(String(t['grpc-message']));
      });
      req.on('error', () => undefined);
      req.on('close', () => {
        if (req.rstCode !== undefined && req.rstCode !== http2.constants.NGHTTP2_NO_ERROR) ending.reset = req.rstCode;
        finish();
      });
      req.resume();
      req.end(o.body ?? Buffer.alloc(0));
    });
  }

  afterEach(() => {
    // After every case the process is still up and answers.
    expect(server.child.exitCode, 'server process exited').to.equal(null);
  });

  /** Asserts how a case ended; every case must end (CASE_TIMEOUT_MS) without stopping the process or charging. */
  interface Case {
    name: string;
    run(): Promise<void>;
  }

  const statusIs = (r: Ending, code: number, message?: RegExp): void => {
    expect(r.grpcStatus, JSON.stringify(r)).to.equal(code);
    if (message) expect(r.grpcMessage ?? '').to.match(message);
  };

  /**
   * Raw bytes on a fresh TCP connection. Resolves with what the server sent once it closed the
   * connection or sent GOAWAY (after which a client must close it, as this one then does);
   * a server that does neither within CASE_TIMEOUT_MS fails the case.
   */
  async function rawConnection(bytes: Buffer): Promise<Buffer> {
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const got: Buffer[] = [];
    socket.on('error', () => undefined);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the server neither closed the connection nor sent GOAWAY')), CASE_TIMEOUT_MS);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        socket.on('data', (d: Buffer) => {
          got.push(d);
          if (sentGoaway(Buffer.concat(got))) done();
        });
        socket.once('close', done);
        socket.write(bytes);
      });
    } finally {
      socket.destroy();
    }
    return Buffer.concat(got);
  }

  const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const frame2 = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head.writeUInt8(type, 3);
    head.writeUInt8(flags, 4);
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  const EMPTY_SETTINGS = frame2(0x4, 0, 0, Buffer.alloc(0));
  /** GOAWAY is frame type 7: the server ended the connection deliberately. */
  const sentGoaway = (bytes: Buffer): boolean => {
    for (let at = 0; at + 9 <= bytes.length; ) {
      if (bytes.readUInt8(at + 3) === 0x7) return true;
      at += 9 + bytes.readUIntBE(at, 3);
    }
    return false;
  };

  const corpus: Case[] = [
    {
      name: 'a body that is not protobuf: INVALID_ARGUMENT naming the method',
      run: async () =>
        statusIs(
          await call({ path: CREATE, body: grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80])), headers: keyed() }),
          Code.INVALID_ARGUMENT,
          /CreateCharge request is not a valid protobuf message/,
        ),
    },
    {
      name: 'a body that is not protobuf on a read (GetCharge): INVALID_ARGUMENT naming the method',
      run: async () =>
        statusIs(
          await call({
            path: GET,
            body: grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80])),
            headers: { authorization: `Bearer ${apiKey}` },
          }),
          Code.INVALID_ARGUMENT,
          /GetCharge request is not a valid protobuf message/,
        ),
    },
    {
      name: 'a truncated message (length prefix longer than the body, then end of stream): UNIMPLEMENTED "Received no request message"',
      run: async () =>
        statusIs(await call({ path: CREATE, body: grpcFrame(encode(valid()), 0, 200), headers: keyed() }), Code.UNIMPLEMENTED, /no request message/),
    },
    {
      // proto3 strings must be valid UTF-8: refused before the claim, whatever the field.
      name: 'invalid UTF-8 in the currency: INVALID_ARGUMENT',
      run: async () =>
        statusIs(
          await call({ path: CREATE, body: grpcFrame(withInvalidUtf8(encode(valid({ currency: 'QQQ' })), 'QQQ')), headers: keyed() }),
          Code.INVALID_ARGUMENT,
          /not valid UTF-8/,
        ),
    },
    {
      name: 'invalid UTF-8 in the description: INVALID_ARGUMENT before any claim (not charged with U+FFFD)',
      run: async () =>
        statusIs(
          await call({ path: CREATE, body: grpcFrame(withInvalidUtf8(encode(valid({ description: 'QQQ' })), 'QQQ')), headers: keyed() }),
          Code.INVALID_ARGUMENT,
          /not valid UTF-8/,
        ),
    },
    {
      name: 'a map field of 40,000 entries: INVALID_ARGUMENT before any claim',
      run: async () => {
        const metadata: Record<string, string> = {};
        for (let i = 0; i < 40_000; i++) metadata[`k${i}`] = 'v';
        statusIs(await call({ path: CREATE, body: grpcFrame(encode(valid({ metadata }))), headers: keyed() }), Code.INVALID_ARGUMENT, /metadata: at most 49/);
      },
    },
    {
      name: 'a repeated field of 200,000 unknown entries within 1 MB: INVALID_ARGUMENT (the unknown field is ignored, the amount is not)',
      run: async () => {
        // Field 99, varint, 200,000 times: unknown fields are skipped by the decoder, costing no memory beyond the message.
        const unknown = Buffer.alloc(200_000 * 3);
        for (let i = 0; i < 200_000; i++) unknown.set([0x98, 0x06, 0x01], i * 3);
        statusIs(
          await call({ path: CREATE, body: grpcFrame(Buffer.concat([encode(valid({ amount: '0' })), unknown])), headers: keyed() }),
          Code.INVALID_ARGUMENT,
          /amount/,
        );
      },
    },
    {
      name: 'a message over 1 MB: RESOURCE_EXHAUSTED',
      run: async () =>
        statusIs(
          await call({ path: CREATE, body: grpcFrame(encode(valid({ description: 'x'.repeat(1_100_000) }))), headers: keyed() }),
          Code.RESOURCE_EXHAUSTED,
          /larger than max/,
        ),
    },
    {
      name: 'a length prefix of 4 GB followed by a few bytes: RESOURCE_EXHAUSTED at once, nothing buffered',
      run: async () =>
        statusIs(await call({ path: CREATE, body: grpcFrame(encode(valid()), 0, 0xffffffff), headers: keyed() }), Code.RESOURCE_EXHAUSTED, /larger than max/),
    },
    {
      name: 'the compressed flag on gzip bytes without grpc-encoding: INVALID_ARGUMENT (the bytes are taken as they are and do not decode)',
      run: async () => statusIs(await call({ path: CREATE, body: grpcFrame(gzipSync(encode(valid())), 1), headers: keyed() }), Code.INVALID_ARGUMENT),
    },
    {
      name: 'the compressed flag with grpc-encoding gzip on bytes that are not gzip: INTERNAL',
      run: async () => statusIs(await call({ path: CREATE, body: grpcFrame(encode(valid()), 1), headers: keyed({ 'grpc-encoding': 'gzip' }) }), Code.INTERNAL),
    },
    {
      name: 'an unsupported grpc-encoding: UNIMPLEMENTED',
      run: async () =>
        statusIs(await call({ path: CREATE, body: grpcFrame(encode(valid()), 1), headers: keyed({ 'grpc-encoding': 'br' }) }), Code.UNIMPLEMENTED),
    },
    {
      name: 'a wrong content-type: HTTP 415, no gRPC processing',
      run: async () => {
        const r = await call({ path: CREATE, body: Buffer.from(JSON.stringify(valid())), headers: keyed(), contentType: 'application/json' });
        expect(r.httpStatus, JSON.stringify(r)).to.equal(415);
      },
    },
    {
      name: 'an unknown method: UNIMPLEMENTED',
      run: async () =>
        statusIs(await call({ path: '/payments.v1.PaymentService/Nope', body: grpcFrame(Buffer.alloc(0)), headers: keyed() }), Code.UNIMPLEMENTED),
    },
    {
      name: 'a 200 KB header value: the stream is reset',
      run: async () => {
        const r = await call({ path: CREATE, body: grpcFrame(encode(valid())), headers: keyed({ 'x-big': 'a'.repeat(200_000) }) });
        expect(r.reset !== undefined || r.closed === true, JSON.stringify(r)).to.equal(true);
      },
    },
    {
      name: '2,000 headers: the stream is reset (ENHANCE_YOUR_CALM)',
      run: async () => {
        const many: Record<string, string> = {};
        for (let i = 0; i < 2000; i++) many[`x-h${i}`] = 'v';
        const r = await call({ path: CREATE, body: grpcFrame(encode(valid())), headers: keyed(many) });
        expect(r.reset !== undefined || r.closed === true, JSON.stringify(r)).to.equal(true);
      },
    },
    {
      name: '300 calls on one connection: the server allows 100 streams at once, and every call ends OK or RESOURCE_EXHAUSTED',
      run: async () => {
        const session = http2.connect(`http://127.0.0.1:${server.port}`);
        session.setMaxListeners(0);
        await new Promise((resolve) => session.once('remoteSettings', resolve));
        expect(session.remoteSettings.maxConcurrentStreams).to.equal(100);
        const results = await Promise.all(
          Array.from({ length: 300 }, () => call({ session, path: LIST, body: grpcFrame(Buffer.alloc(0)), headers: { authorization: `Bearer ${apiKey}` } })),
        );
        session.close();
        for (const r of results) expect([Code.OK, Code.RESOURCE_EXHAUSTED], JSON.stringify(r)).to.include(r.grpcStatus);
      },
    },
    {
      name: 'a slow reader (no flow-control window, never reads): its calls wait, and closing the connection frees them',
      run: async () => {
        const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 0 } });
        session.setMaxListeners(0);
        session.on('error', () => undefined);
        await new Promise((resolve) => session.once('remoteSettings', resolve));
        const streams = Array.from({ length: 50 }, () => {
          const req = session.request({
            ':method': 'POST',
            ':path': LIST,
            'content-type': 'application/grpc',
            te: 'trailers',
            authorization: `Bearer ${apiKey}`,
          });
          req.on('error', () => undefined);
          req.pause();
          req.end(grpcFrame(Buffer.alloc(0)));
          return new Promise<void>((resolve) => req.once('response', () => resolve()));
        });
        // Headers need no window: every call was answered up to its body, which waits for a window that never opens.
        await Promise.all(streams);
        await new Promise<void>((resolve) => {
          session.once('close', () => resolve());
          session.destroy();
        });
      },
    },
    {
      name: 'HTTP/1.1 and garbage instead of the HTTP/2 preface: the connection is closed (or GOAWAY)',
      run: async () => {
        await rawConnection(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n\r\n${'z'.repeat(10_000)}`));
      },
    },
    {
      name: 'a DATA frame on stream 0: GOAWAY (PROTOCOL_ERROR) and the connection is closed (or GOAWAY)',
      run: async () => {
        const reply = await rawConnection(Buffer.concat([PREFACE, EMPTY_SETTINGS, frame2(0x0, 0, 0, Buffer.from('x'))]));
        expect(sentGoaway(reply)).to.equal(true);
      },
    },
    {
      name: 'a HEADERS frame that is not HPACK: GOAWAY (COMPRESSION_ERROR) and the connection is closed (or GOAWAY)',
      run: async () => {
        const reply = await rawConnection(
          Buffer.concat([PREFACE, EMPTY_SETTINGS, frame2(0x1, 0x4 | 0x1, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]),
        );
        expect(sentGoaway(reply)).to.equal(true);
      },
    },
    {
      name: '100,000 PINGs at once: the connection is closed (or GOAWAY)',
      run: async () => {
        const ping = frame2(0x6, 0, 0, Buffer.alloc(8));
        await rawConnection(Buffer.concat([PREFACE, EMPTY_SETTINGS, ...Array<Buffer>(100_000).fill(ping)]));
      },
    },
    {
      name: 'a flood of SETTINGS frames: the connection is closed (or GOAWAY)',
      run: async () => {
        const settings = frame2(0x4, 0, 0, Buffer.from([0x00, 0x03, 0x00, 0x00, 0x00, 0x64]));
        await rawConnection(Buffer.concat([PREFACE, ...Array<Buffer>(20_000).fill(settings)]));
      },
    },
    {
      name: 'a stream opened and reset at once, 2,000 times (rapid reset): the server stays up and nothing runs',
      run: async () => {
        const headers = Buffer.from([0x83, 0x86]); // :method POST, :scheme http (HPACK static table); incomplete on purpose
        const frames: Buffer[] = [PREFACE, EMPTY_SETTINGS];
        for (let i = 0; i < 2000; i++) {
          const stream = 1 + i * 2;
          frames.push(frame2(0x1, 0x4, stream, headers), frame2(0x3, 0, stream, Buffer.from([0, 0, 0, 8])));
        }
        await rawConnection(Buffer.concat(frames));
      },
    },
  ];

  for (const c of corpus) it(`ends ${c.name}`, () => c.run());

  it('keeps its memory bounded over three more rounds of the whole corpus, and charged nothing', async () => {
    const afterFirstRound = rssOf(server.child.pid!);
    for (let round = 0; round < 3; round++) for (const c of corpus) await c.run();
    const afterFourRounds = rssOf(server.child.pid!);
    const mb = (n: number): string => (n / 1024 / 1024).toFixed(1);
    // The figure docs/abuse.md quotes.
    console.log(
      `      corpus memory: server RSS ${mb(rssBefore)} MB before, ${mb(afterFirstRound)} MB after one round, ${mb(afterFourRounds)} MB after four rounds of ${corpus.length} cases`,
    );
    expect(afterFourRounds - rssBefore).to.be.lessThan(MAX_RSS_GROWTH_BYTES);
    expect(afterFourRounds - afterFirstRound, 'growth per round (a leak)').to.be.lessThan(MAX_RSS_GROWTH_BYTES / 4);
    expect(sim.stats().requests - requestsBefore, 'provider requests caused by the corpus').to.equal(0);
    // The server still serves a real call.
    const ok = await call({ path: CREATE, body: grpcFrame(encode(valid())), headers: keyed() });
    expect(ok.grpcStatus).to.equal(Code.OK);
  });
});
