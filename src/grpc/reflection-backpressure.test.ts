import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { addReflection, MAX_REFLECTION_REQUESTS_PER_STREAM, type ReflectionStats } from './reflection';

const DESCRIPTOR_SET_PATH = path.resolve(__dirname, '..', 'gen', 'payments.binpb');
/** As many requests as the probe that grew the server by about 26 MB when nobody read the answers. */
const REQUESTS = 40_000;
/** The client's HTTP/2 receive window per stream (the protocol's default). */
const CLIENT_WINDOW_BYTES = 65_535;
/** Responses a Node object stream buffers before `write` says stop (its default high-water mark). */
const STREAM_HIGH_WATER_MARK = 16;
/** A stuck stream must stay stuck for the whole test; this bounds waiting for a condition that never comes. */
const CONDITION_TIMEOUT_MS = 20_000;

/** ServerReflectionRequest { file_containing_symbol (4): symbol }, framed as one gRPC message. */
function symbolRequestFrame(symbol: string): Buffer {
  const name = Buffer.from(symbol);
  const message = Buffer.concat([Buffer.from([0x22, name.length]), name]);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Waits for `condition` by yielding to the event loop (no fixed delays); fails after CONDITION_TIMEOUT_MS. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + CONDITION_TIMEOUT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Splits a gRPC response body into its messages' lengths. */
function messageLengths(body: Buffer): number[] {
  const lengths: number[] = [];
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) lengths.push(body.readUInt32BE(at + 1));
  return lengths;
}

describe('reflection under a client that does not read', () => {
  let server: grpc.Server;
  let stats: ReflectionStats;
  let port = 0;

  beforeEach(async () => {
    server = new grpc.Server();
    stats = addReflection(server, readFileSync(DESCRIPTOR_SET_PATH));
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  });

  afterEach(() => {
    server.forceShutdown();
  });

  /** Answers one request on its own stream, read normally: the server stays responsive meanwhile. */
  async function oneRoundTrip(): Promise<number> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.end(symbolRequestFrame('payments.v1.PaymentService'));
      await new Promise((resolve, reject) => {
        req.on('end', resolve);
        req.on('error', reject);
      });
      const lengths = messageLengths(Buffer.concat(chunks));
      expect(lengths).to.have.length(1);
      return 5 + (lengths[0] ?? 0);
    } finally {
      session.close();
    }
  }

  it(`holds a bounded number of answers for ${REQUESTS} requests nobody reads, then answers ${MAX_REFLECTION_REQUESTS_PER_STREAM} and ends with RESOURCE_EXHAUSTED`, async () => {
    const responseBytes = await oneRoundTrip();
    const readBefore = stats.requestsRead;
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: CLIENT_WINDOW_BYTES } });
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      req.pause(); // never read, until we say so
      const frame = symbolRequestFrame('payments.v1.PaymentService');
      req.write(Buffer.concat(Array.from({ length: REQUESTS }, () => frame)));

      await until(() => stats.pauses > 0, 'the stream to stop reading');
      // Many round trips on other streams: the server keeps running, and the stuck stream stays stuck.
      for (let i = 0; i < 20; i++) await oneRoundTrip();
      const readWhileStuck = stats.requestsRead - readBefore - 20;

      // What the client's window holds, plus what the stream buffers, plus one request being answered.
      const bound = Math.ceil(CLIENT_WINDOW_BYTES / responseBytes) + STREAM_HIGH_WATER_MARK + 1;
      expect(readWhileStuck, `requests taken while the client read nothing (${responseBytes}-byte answers)`).to.be.at.most(bound);
      expect(stats.maxQueuedResponses).to.be.at.most(STREAM_HIGH_WATER_MARK);
      expect(req.writableLength, 'the client still holds most of its requests: the server stopped taking them').to.be.above((REQUESTS / 2) * frame.length);

      // Now read: every answer the server owes arrives, and the stream ends at the per-stream bound.
      const chunks: Buffer[] = [];
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('trailers', resolve));
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.resume();
      const status = await trailers;
      expect(status['grpc-status']).to.equal(String(grpc.status.RESOURCE_EXHAUSTED));
      await until(() => req.readableEnded || Buffer.concat(chunks).length >= MAX_REFLECTION_REQUESTS_PER_STREAM * responseBytes, 'the answers');
      expect(messageLengths(Buffer.concat(chunks))).to.have.length(MAX_REFLECTION_REQUESTS_PER_STREAM);
      expect(stats.exhaustedStreams).to.equal(1);
    } finally {
      session.destroy();
    }
  });

  it('answers a client that reads, request after request on one stream', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      const frame = symbolRequestFrame('payments.v1.Charge');
      req.end(Buffer.concat(Array.from({ length: 500 }, () => frame)));
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('trailers', resolve));

      expect(trailers['grpc-status']).to.equal('0');
      expect(messageLengths(Buffer.concat(chunks))).to.have.length(500);
    } finally {
      session.close();
    }
  });
});
