import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import {
  type DescriptorProto,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { findGrpcPython } from '../../test/clients/python-env';
import { Charge, ChargeStatus, ListChargesResponse, type PaymentServiceServer, PaymentServiceService, Refund } from '../gen/payments/v1/payments';
import { addReflection } from './reflection';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DESCRIPTOR_SET_PATH = path.join(REPO_ROOT, 'src', 'gen', 'payments.binpb');
const CLIENT_PATH = path.join(REPO_ROOT, 'test', 'clients', 'reflection_client.py');
/** Per client run: Python start-up plus a few local RPCs take well under a second; CI can be slow. */
const CLIENT_TIMEOUT_MS = 30_000;
/** Each RPC the client makes; far above any local round trip, below CLIENT_TIMEOUT_MS. */
const CLIENT_RPC_DEADLINE_SECONDS = 10;
const FIXED_TIME = new Date('2024-01-02T03:04:05Z');
const FIXED_CHARGE = Charge.fromPartial({
  id: 'ch_fixed',
  status: ChargeStatus.CHARGE_STATUS_SUCCEEDED,
  amount: '100',
  currency: 'usd',
  createTime: FIXED_TIME,
  updateTime: FIXED_TIME,
});
const VERSIONS = [
  { name: 'v1', flags: [] },
  { name: 'v1alpha', flags: ['--v1alpha'] },
] as const;

const stubHandlers: PaymentServiceServer = {
  createCharge: (call, callback) => {
    const header = (name: string): string => String(call.metadata.get(name)[0] ?? '');
    callback(
      null,
      Charge.fromPartial({
        id: 'ch_echo',
        status: ChargeStatus.CHARGE_STATUS_SUCCEEDED,
        amount: call.request.amount,
        currency: call.request.currency,
        description: call.request.paymentMethod,
        metadata: call.request.metadata,
        customerId: header('x-customer'),
        providerReference: header('idempotency-key'),
        createTime: FIXED_TIME,
        updateTime: FIXED_TIME,
      }),
    );
  },
  captureCharge: (_call, callback) => callback(null, FIXED_CHARGE),
  refundCharge: (_call, callback) => callback(null, Refund.fromPartial({ id: 're_fixed', charge: FIXED_CHARGE })),
  cancelCharge: (_call, callback) => callback(null, FIXED_CHARGE),
  getCharge: (call, callback) => {
    if (call.request.chargeId === 'ch_missing') {
      callback({ code: grpc.status.NOT_FOUND, details: 'no such charge' });
      return;
    }
    callback(null, FIXED_CHARGE);
  },
  listCharges: (_call, callback) => callback(null, ListChargesResponse.fromPartial({ charges: [FIXED_CHARGE] })),
};

interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('addReflection', () => {
  const descriptorSet = readFileSync(DESCRIPTOR_SET_PATH);
  const server = new grpc.Server();
  let target = '';

  before(async () => {
    server.addService(PaymentServiceService, stubHandlers);
    addReflection(server, descriptorSet);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error === null ? resolve(boundPort) : reject(error)));
    });
    target = `127.0.0.1:${port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  /** Runs the Python reflection client; the test is pending (or, under CI, failing) without Python. */
  async function client(ctx: Mocha.Context, args: readonly string[]): Promise<ClientResult> {
    const python = grpcPython(ctx);
    return new Promise((resolve, reject) => {
      execFile(
        python,
        [CLIENT_PATH, target, '--timeout', String(CLIENT_RPC_DEADLINE_SECONDS), ...args],
        { timeout: CLIENT_TIMEOUT_MS },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ code: 0, stdout, stderr });
          } else if (typeof error.code === 'number') {
            resolve({ code: error.code, stdout, stderr });
          } else {
            reject(new Error(`reflection client did not finish: ${error.message}\n${stderr}`, { cause: error }));
          }
        },
      );
    });
  }

  async function clientOk(ctx: Mocha.Context, args: readonly string[]): Promise<string> {
    const result = await client(ctx, args);
    expect(result.code, `client ${args.join(' ')} failed:\n${result.stderr}`).to.equal(0);
    return result.stdout;
  }

  for (const version of VERSIONS) {
    it(`lists payments.v1.PaymentService over reflection ${version.name}`, async function () {
      const stdout = await clientOk(this, [...version.flags, 'list']);
      expect(lines(stdout)).to.deep.equal(['payments.v1.PaymentService']);
    });

    it(`describes every method and message, with their imports, over reflection ${version.name}`, async function () {
      const stdout = await clientOk(this, [...version.flags, 'describe']);
      const described = blocks(lines(stdout));

      // `describe` covers the services' files and their imports; google/rpc (served for error
      // details) is described on its own below.
      expect(described).to.deep.equal(
        expectedDescription(
          imageFiles(descriptorSet).filter((f) => ['payments/v1/payments.proto', 'google/protobuf/timestamp.proto'].includes(f.proto.name ?? '')),
        ),
      );
      // The exact reference stock @grpc/reflection leaves unresolvable (no dependency, no dot).
      expect(described['message payments.v1.Charge']).to.include('  .google.protobuf.Timestamp create_time = 14');
      expect(described['service payments.v1.PaymentService']).to.include('  rpc CreateCharge(.payments.v1.CreateChargeRequest) returns (.payments.v1.Charge)');
    });
  }

  it('serves the file of payments.v1.PaymentService with its Timestamp import, as the image bytes', async function () {
    const files = imageFiles(descriptorSet);
    const expected = ['payments/v1/payments.proto', 'google/protobuf/timestamp.proto'].map((name) => {
      const file = files.find((candidate) => candidate.proto.name === name);
      if (file === undefined) throw new Error(`${name} missing from ${DESCRIPTOR_SET_PATH}`);
      return { name, dependency: file.proto.dependency, sha256: createHash('sha256').update(file.bytes).digest('hex') };
    });

    const bySymbol = await clientOk(this, ['files', '--symbol', 'payments.v1.PaymentService']);
    const byFilename = await clientOk(this, ['files', '--filename', 'payments/v1/payments.proto']);

    expect(expected[0]?.dependency).to.deep.equal(['google/protobuf/timestamp.proto']);
    expect(lines(bySymbol).map((line) => JSON.parse(line))).to.deep.equal(expected);
    expect(lines(byFilename).map((line) => JSON.parse(line))).to.deep.equal(expected);
  });

  it('calls CreateCharge built from JSON with metadata and prints the echoed charge', async function () {
    const stdout = await clientOk(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      '{"amount":"1500","currency":"usd","paymentMethod":"pm_card_visa","metadata":{"a":"b"}}',
      '-H',
      'idempotency-key: key-123',
      '-H',
      'X-Customer: cus_42',
    ]);

    expect(JSON.parse(stdout)).to.deep.equal({
      id: 'ch_echo',
      status: 'CHARGE_STATUS_SUCCEEDED',
      amount: '1500',
      currency: 'usd',
      customer_id: 'cus_42',
      description: 'pm_card_visa',
      metadata: { a: 'b' },
      provider_reference: 'key-123',
      create_time: '2024-01-02T03:04:05Z',
      update_time: '2024-01-02T03:04:05Z',
    });
  });

  it('reports a failed call as ERROR with the status code name and exits 1', async function () {
    const result = await client(this, ['call', 'payments.v1.PaymentService/GetCharge', '{"chargeId":"ch_missing"}']);

    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr.trim()).to.equal('ERROR NOT_FOUND no such charge');
  });

  it('answers a reflection request for an unknown symbol with NOT_FOUND', async function () {
    const result = await client(this, ['describe', 'payments.v1.NoSuchService']);

    expect(result.code).to.equal(1);
    expect(result.stderr.trim()).to.equal('ERROR NOT_FOUND symbol payments.v1.NoSuchService not found');
  });
});

let grpcPythonLookup: ReturnType<typeof findGrpcPython> | undefined;
let pendingReasonPrinted = false;

/** The Python to run the client with; skips the test when there is none, unless under CI. */
function grpcPython(ctx: Mocha.Context): string {
  grpcPythonLookup ??= findGrpcPython();
  if ('python' in grpcPythonLookup) {
    return grpcPythonLookup.python;
  }
  if (process.env['CI']) {
    throw new Error(grpcPythonLookup.missing);
  }
  if (!pendingReasonPrinted) {
    pendingReasonPrinted = true;
    console.log(`    reflection client tests pending: ${grpcPythonLookup.missing}`);
  }
  return ctx.skip();
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** Groups `describe` output into its `service ...` / `message ...` headers and their indented lines. */
function blocks(outputLines: readonly string[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  let current: string[] | undefined;
  for (const line of outputLines) {
    if (line.startsWith('  ')) {
      if (current === undefined) throw new Error(`indented line before any header: ${line}`);
      current.push(line);
    } else {
      if (line in result) throw new Error(`described twice: ${line}`);
      current = result[line] = [];
    }
  }
  return result;
}

interface ImageFile {
  proto: FileDescriptorProto;
  bytes: Uint8Array;
}

/** The files of the descriptor set, each with its exact bytes. */
function imageFiles(descriptorSet: Uint8Array): ImageFile[] {
  const files: ImageFile[] = [];
  const reader = new BinaryReader(descriptorSet);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === 1 && wireType === WireType.LengthDelimited) {
      const bytes = reader.bytes();
      files.push({ proto: fromBinary(FileDescriptorProtoSchema, bytes), bytes });
    } else {
      reader.skip(wireType, fieldNo);
    }
  }
  return files;
}

/** What `describe` must print, derived from the image alone (buf writes dotted type names). */
function expectedDescription(files: readonly ImageFile[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  const addMessage = (scope: string, message: DescriptorProto): void => {
    const name = `${scope}${message.name}`;
    result[`message ${name}`] = message.field.map((field) => {
      const repeated = field.label === FieldDescriptorProto_Label.REPEATED ? 'repeated ' : '';
      const type = field.typeName !== '' ? field.typeName : FieldDescriptorProto_Type[field.type].toLowerCase();
      return `  ${repeated}${type} ${field.name} = ${field.number}`;
    });
    for (const nested of message.nestedType) addMessage(`${name}.`, nested);
  };
  for (const { proto } of files) {
    const scope = proto.package === '' ? '' : `${proto.package}.`;
    for (const service of proto.service) {
      result[`service ${scope}${service.name}`] = service.method.map((method) => `  rpc ${method.name}(${method.inputType}) returns (${method.outputType})`);
    }
    for (const message of proto.messageType) addMessage(scope, message);
  }
  return result;
}
