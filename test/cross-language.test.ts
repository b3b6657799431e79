/**
 * Cross-language idempotency (issue 3, acceptance "Cross-language"): a Python grpcio client and the
 * TS client send the same logical CreateCharge with the same idempotency key, and whichever comes
 * second gets the replay (`idempotent-replayed: true`, same charge), not FAILED_PRECONDITION.
 *
 * What differs on the wire: Python's protobuf (the C++ runtime of Debian's python3-protobuf) writes
 * map entries in hash order, which changes from process to process, while ts-proto writes them in
 * insertion order. With 12 entries (plus a per-test run id) the two orders coincide with odds of
 * about 1 in 6e9; the tests assert that they differ, so they really exercise the canonical
 * fingerprint. The Python side also sets every field explicitly, defaults included (`description:
 * ""`, `capture_method: CAPTURE_METHOD_UNSPECIFIED`); proto3 never writes implicit-presence fields
 * holding their default, so those do not reach the wire from Python (wire-level explicit defaults
 * and unknown fields are covered with raw bytes in test/idempotency.test.ts).
 *
 * Python stubs are generated from proto/ at test time into a temp dir, offline:
 *   1. `buf build -o DIR/payments.binpb` (buf from node_modules, a devDependency) compiles proto/
 *      into an image that includes google/protobuf/timestamp.proto (buf ships the well-known types);
 *   2. `protoc --descriptor_set_in=DIR/payments.binpb --python_out=DIR payments/v1/payments.proto`
 *      (Debian's protobuf-compiler 3.21, the same release as the python3-protobuf runtime) writes
 *      DIR/payments/v1/payments_pb2.py.
 * Because protoc reads the compiled image, it needs no .proto sources for the well-known types, so
 * libprotobuf-dev (only a Recommends of protobuf-compiler, absent with --no-install-recommends) is
 * not needed. Messages only: the client calls the method through grpc's generic `unary_unary`, so
 * no gRPC Python plugin (grpc_tools) is involved.
 *
 * Debian packages: python3-grpcio python3-protobuf protobuf-compiler. Without them the tests are
 * pending with the reason printed; under CI (`CI` set) they fail with the install hint instead.
 */

import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { expect } from 'chai';
import { CaptureMethod, Charge, CreateChargeRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { decodeStatusDetails } from '../src/grpc/status-details.js';
import { findGrpcPython, GRPC_PYTHON_DEBIAN_PACKAGES } from './clients/python-env.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const REPO_ROOT = path.resolve(__dirname, '..');
const CLIENT_PATH = path.join(REPO_ROOT, 'test', 'clients', 'charge_client.py');
const BUF = path.join(REPO_ROOT, 'node_modules', '.bin', 'buf');
const PROTOC_CANDIDATES = ['/usr/bin/protoc', 'protoc'] as const;
const DEBIAN_PACKAGES = [...GRPC_PYTHON_DEBIAN_PACKAGES, 'protobuf-compiler'] as const;
/** buf build plus protoc take about a second; generous for cold CI machines. */
const GENERATE_TIMEOUT_MS = 60_000;
/** One Python client run (start-up plus one RPC) takes well under a second locally. */
const CLIENT_TIMEOUT_MS = 30_000;
/** The client's RPC deadline: far above a local charge, below CLIENT_TIMEOUT_MS. */
const CLIENT_RPC_DEADLINE_SECONDS = 20;
/** proto field number of CreateChargeRequest.metadata. */
const METADATA_FIELD = 6;
const RUN_KEY = 'xlang_run';
/** Insertion order of the TS client (ts-proto writes map entries in this order); no integer-like keys. */
const METADATA: ReadonlyArray<readonly [string, string]> = [
  ['order_id', 'o-4711'],
  ['channel', 'web'],
  ['sku', 'sku-123'],
  ['warehouse', 'ber-2'],
  ['coupon', 'SPRING'],
  ['locale', 'de-DE'],
  ['referrer', 'newsletter'],
  ['campaign', 'c-42'],
  ['device', 'ios'],
  ['session', 's-9f8e'],
  ['cart', 'cart-77'],
  ['tier', 'gold'],
];

interface PythonOk {
  ok: true;
  charge: { id: string; metadata?: Record<string, string> } & Record<string, unknown>;
  headers: Record<string, string[]>;
  request_hex: string;
  response_hex: string;
}
interface PythonError {
  ok: false;
  code: string;
  details: string;
  headers: Record<string, string[]>;
  trailers: Record<string, string[]>;
  request_hex: string;
}
type PythonResult = PythonOk | PythonError;

interface Toolchain {
  python: string;
  protoc: string;
}

const create = PaymentServiceClient.prototype.createCharge;

describe('cross-language idempotency (Python grpcio client and TS client)', () => {
  let toolchain: Toolchain | undefined;
  let stubsDir: string | undefined;
  let t: TestServer | undefined;

  before(async function () {
    const found = findToolchain();
    if ('missing' in found) {
      if (process.env['CI']) throw new Error(found.missing);
      console.log(`    cross-language tests pending: ${found.missing}`);
      this.skip();
    }
    toolchain = found;
    stubsDir = mkdtempSync(path.join(os.tmpdir(), 'payments-python-stubs-'));
    await generatePythonStubs(found.protoc, stubsDir);
    t = await startTestServer();
  });

  after(async () => {
    await t?.close();
    if (stubsDir !== undefined) rmSync(stubsDir, { recursive: true, force: true });
  });

  function server(): TestServer {
    if (t === undefined) throw new Error('test server not started');
    return t;
  }

  /** Runs test/clients/charge_client.py once and returns its JSON line. */
  function python(idempotencyKey: string, request: Record<string, unknown>): Promise<PythonResult> {
    if (toolchain === undefined || stubsDir === undefined) throw new Error('Python toolchain not set up');
    const args = [
      CLIENT_PATH,
      `127.0.0.1:${server().port}`,
      server().apiKey,
      idempotencyKey,
      JSON.stringify(request),
      '--stubs',
      stubsDir,
      '--timeout',
      String(CLIENT_RPC_DEADLINE_SECONDS),
    ];
    const pythonPath = toolchain.python;
    return new Promise((resolve, reject) => {
      execFile(pythonPath, args, { timeout: CLIENT_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`charge_client.py failed (${error.message}):\n${stderr}`, { cause: error }));
          return;
        }
        const lines = stdout.split('\n').filter((line) => line !== '');
        if (lines.length !== 1) {
          reject(new Error(`charge_client.py printed ${lines.length} lines, expected 1:\n${stdout}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(lines[0] ?? '') as PythonResult);
      });
    });
  }

  function providerIntentsOf(run: string): number {
    return server()
      .sim.paymentIntents()
      .filter((pi) => pi.metadata[RUN_KEY] === run).length;
  }

  it('replays to a Python client that retries a TS client request (other map order, explicit defaults)', async () => {
    const run = randomUUID();
    const key = `xlang-${randomUUID()}`;
    const request = tsRequest(run);

    const ts = await callUnary(server().client, create, request, server().md(key));
    expect(ts.error, ts.error?.details).to.equal(undefined);
    expect(ts.headers.get('idempotent-replayed')).to.deep.equal([]);

    const py = expectOk(await python(key, pythonRequest(request)));

    expect(py.headers['idempotent-replayed'], 'Python call was not a replay').to.deep.equal(['true']);
    expect(py.charge.id).to.equal(ts.response?.id);
    expect(Charge.decode(Buffer.from(py.response_hex, 'hex'))).to.deep.equal(ts.response);
    expect(py.charge.metadata).to.deep.equal(request.metadata);
    expectSameRequestOtherBytes(py.request_hex, request);
    expect(providerIntentsOf(run)).to.equal(1);
  });

  it('replays to a TS client that retries a Python client request', async () => {
    const run = randomUUID();
    const key = `xlang-${randomUUID()}`;
    const request = tsRequest(run);

    const py = expectOk(await python(key, pythonRequest(request)));
    expect(py.headers['idempotent-replayed']).to.equal(undefined);
    expect(py.headers['idempotency-expires-at']).to.have.lengthOf(1);

    const ts = await callUnary(server().client, create, request, server().md(key));

    expect(ts.error, ts.error?.details).to.equal(undefined);
    expect(ts.headers.get('idempotent-replayed'), 'TS call was not a replay').to.deep.equal(['true']);
    expect(ts.response?.id).to.equal(py.charge.id);
    expect(ts.response).to.deep.equal(Charge.decode(Buffer.from(py.response_hex, 'hex')));
    expectSameRequestOtherBytes(py.request_hex, request);
    expect(providerIntentsOf(run)).to.equal(1);
  });

  it('refuses a Python retry with another amount with FAILED_PRECONDITION (negative control)', async () => {
    const run = randomUUID();
    const key = `xlang-${randomUUID()}`;
    const request = tsRequest(run);

    const ts = await callUnary(server().client, create, request, server().md(key));
    expect(ts.error, ts.error?.details).to.equal(undefined);

    const py = await python(key, pythonRequest({ ...request, amount: '2501' }));

    if (py.ok) expect.fail(`expected FAILED_PRECONDITION, got charge ${py.charge.id} (headers ${JSON.stringify(py.headers)})`);
    expect(py.code, py.details).to.equal('FAILED_PRECONDITION');
    const details = py.trailers['grpc-status-details-bin']?.[0];
    expect(details, 'no grpc-status-details-bin trailer').to.be.a('string');
    expect(decodeStatusDetails(Buffer.from(details ?? '', 'base64')).errorInfo?.reason).to.equal('IDEMPOTENCY_KEY_REUSED');
    expect(providerIntentsOf(run)).to.equal(1);
  });
});

function tsRequest(run: string): CreateChargeRequest {
  return {
    amount: '2500',
    currency: 'usd',
    paymentMethod: 'pm_card_visa',
    customerId: 'cus_xlang',
    description: '',
    metadata: Object.fromEntries([...METADATA, [RUN_KEY, run]]),
    captureMethod: CaptureMethod.CAPTURE_METHOD_UNSPECIFIED,
  };
}

/** The same request as protobuf JSON with proto field names, every field set, defaults included. */
function pythonRequest(r: CreateChargeRequest): Record<string, unknown> {
  return {
    amount: r.amount,
    currency: r.currency,
    payment_method: r.paymentMethod,
    customer_id: r.customerId,
    description: r.description,
    metadata: r.metadata,
    capture_method: CaptureMethod[r.captureMethod],
  };
}

function expectOk(result: PythonResult): PythonOk {
  if (!result.ok) expect.fail(`Python call failed: ${result.code} ${result.details}`);
  return result;
}

/** Python sent the same logical request as the TS client, with its map entries in another order. */
function expectSameRequestOtherBytes(pythonRequestHex: string, request: CreateChargeRequest): void {
  const pythonBytes = Buffer.from(pythonRequestHex, 'hex');
  const tsBytes = CreateChargeRequest.encode(request).finish();
  expect(CreateChargeRequest.decode(pythonBytes)).to.deep.equal(request);
  const pythonOrder = metadataKeysOnWire(pythonBytes);
  const tsOrder = metadataKeysOnWire(tsBytes);
  expect([...pythonOrder].sort()).to.deep.equal([...tsOrder].sort());
  expect(pythonOrder, 'Python wrote the map entries in the TS order; the test proves nothing').to.not.deep.equal(tsOrder);
}

/** Keys of CreateChargeRequest.metadata in the order they appear on the wire. */
function metadataKeysOnWire(bytes: Uint8Array): string[] {
  const keys: string[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo !== METADATA_FIELD || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, fieldNo);
      continue;
    }
    const entry = new BinaryReader(reader.bytes());
    while (entry.pos < entry.len) {
      const [entryFieldNo, entryWireType] = entry.tag();
      if (entryFieldNo === 1 && entryWireType === WireType.LengthDelimited) keys.push(entry.string());
      else entry.skip(entryWireType, entryFieldNo);
    }
  }
  return keys;
}

/** A Python with grpcio and protobuf, and a protoc; or why there is none, with the install hint. */
function findToolchain(): Toolchain | { missing: string } {
  const python = findGrpcPython();
  const protoc = findProtoc();
  if ('python' in python && 'protoc' in protoc) return { python: python.python, protoc: protoc.protoc };
  const reasons = [...('missing' in python ? [python.missing] : []), ...('missing' in protoc ? [protoc.missing] : [])];
  return { missing: `${reasons.join('; ')} (all Debian packages these tests need: ${DEBIAN_PACKAGES.join(' ')})` };
}

function findProtoc(): { protoc: string } | { missing: string } {
  const failures: string[] = [];
  for (const protoc of PROTOC_CANDIDATES) {
    const result = spawnSync(protoc, ['--version'], { encoding: 'utf8', timeout: GENERATE_TIMEOUT_MS });
    if (result.status === 0) return { protoc };
    failures.push(`${protoc}: ${result.error?.message ?? (result.stderr.trim() || `exit status ${result.status}`)}`);
  }
  return { missing: `no protoc (${failures.join('; ')}); install with: apt-get install -y protobuf-compiler` };
}

/** Generates DIR/payments/v1/payments_pb2.py from proto/ (see the top of this file). */
async function generatePythonStubs(protoc: string, dir: string): Promise<void> {
  const image = path.join(dir, 'payments.binpb');
  await run(BUF, ['build', '-o', image], REPO_ROOT);
  await run(protoc, [`--descriptor_set_in=${image}`, `--python_out=${dir}`, 'payments/v1/payments.proto'], dir);
}

function run(command: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: GENERATE_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${error.message}):\n${stderr}`, { cause: error }));
    });
  });
}
