import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { expect } from 'chai';
import { CaptureMethod, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { findGrpcPython } from './clients/python-env.js';
import { callUnary } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const CLIENT_PATH = path.resolve(__dirname, 'clients', 'reflection_client.py');
/** Per client run: Python start-up plus a few local RPCs take well under a second; CI can be slow. */
const CLIENT_TIMEOUT_MS = 30_000;
/** Each RPC the client makes; far above any local round trip, below CLIENT_TIMEOUT_MS. */
const CLIENT_RPC_DEADLINE_SECONDS = 10;
const METHODS = ['CreateCharge', 'CaptureCharge', 'RefundCharge', 'CancelCharge', 'GetCharge', 'ListCharges'] as const;

interface ClientResult {
  code: number;
  stdout: string;
  stderr: string;
}

let grpcPythonLookup: ReturnType<typeof findGrpcPython> | undefined;
let pendingReasonPrinted = false;

/** The Python to run the client with; skips the test when there is none, unless under CI (same rule as src/grpc/reflection.test.ts). */
function grpcPython(ctx: Mocha.Context): string {
  grpcPythonLookup ??= findGrpcPython();
  if ('python' in grpcPythonLookup) return grpcPythonLookup.python;
  if (process.env['CI']) throw new Error(grpcPythonLookup.missing);
  if (!pendingReasonPrinted) {
    pendingReasonPrinted = true;
    console.log(`    live reflection client tests pending: ${grpcPythonLookup.missing}`);
  }
  return ctx.skip();
}

describe('strict reflection client against the real server', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  function client(ctx: Mocha.Context, args: readonly string[]): Promise<ClientResult> {
    const python = grpcPython(ctx);
    return new Promise((resolve, reject) => {
      execFile(
        python,
        [CLIENT_PATH, `127.0.0.1:${t.port}`, '--timeout', String(CLIENT_RPC_DEADLINE_SECONDS), ...args],
        { timeout: CLIENT_TIMEOUT_MS },
        (error, stdout, stderr) => {
          if (error === null) resolve({ code: 0, stdout, stderr });
          else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
          else reject(new Error(`reflection client did not finish: ${error.message}\n${stderr}`, { cause: error }));
        },
      );
    });
  }

  async function clientOk(ctx: Mocha.Context, args: readonly string[]): Promise<string> {
    const result = await client(ctx, args);
    expect(result.code, `client ${args.join(' ')} failed:\n${result.stderr}`).to.equal(0);
    return result.stdout;
  }

  const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');
  /** The client's `DETAILS <type> <json>` lines, parsed. */
  const statusDetails = (stderr: string): Array<[string, unknown]> =>
    lines(stderr)
      .filter((line) => line.startsWith('DETAILS '))
      .map((line) => {
        const [, type, json] = /^DETAILS (\S+) (.*)$/.exec(line) ?? [];
        return [String(type), JSON.parse(String(json)) as unknown];
      });

  for (const version of [[], ['--v1alpha']] as const) {
    it(`lists payments.v1.PaymentService over reflection ${version.length === 0 ? 'v1' : 'v1alpha'}`, async function () {
      const stdout = await clientOk(this, [...version, 'list']);
      expect(lines(stdout)).to.include('payments.v1.PaymentService');
    });
  }

  it('describes every method of PaymentService and the messages they use, with the Timestamp import resolved', async function () {
    const described = lines(await clientOk(this, ['describe', 'payments.v1.PaymentService']));

    expect(described[0]).to.equal('service payments.v1.PaymentService');
    const rpcs = described.filter((line) => line.startsWith('  rpc ')).map((line) => /^ {2}rpc (\w+)\(/.exec(line)?.[1]);
    expect(rpcs).to.have.members([...METHODS]);
    for (const message of ['CreateChargeRequest', 'Charge', 'Refund', 'ListChargesResponse']) {
      expect(described).to.include(`message payments.v1.${message}`);
    }
    expect(described).to.include('  .google.protobuf.Timestamp create_time = 14');
  });

  it('calls CreateCharge built from JSON with auth and idempotency headers and gets the provider-backed charge', async function () {
    const stdout = await clientOk(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      JSON.stringify({ amount: '1500', currency: 'usd', paymentMethod: 'pm_card_visa', customerId: 'cus_reflection', metadata: { source: 'python' } }),
      '-H',
      `authorization: Bearer ${t.apiKey}`,
      '-H',
      `idempotency-key: ${randomUUID()}`,
    ]);

    const charge = JSON.parse(stdout) as Record<string, unknown>;
    expect(charge['id']).to.match(/^ch_/);
    expect(charge['status']).to.equal('CHARGE_STATUS_SUCCEEDED');
    expect(charge['amount']).to.equal('1500');
    expect(charge['currency']).to.equal('usd');
    expect(charge['metadata']).to.deep.equal({ source: 'python' });
    expect(charge['provider_reference']).to.match(/^pi_/);

    // The charge is real: the TypeScript client of the same merchant reads it back.
    const got = await callUnary(t.client, PaymentServiceClient.prototype.getCharge, { chargeId: String(charge['id']) }, t.md());
    expect(got.response?.providerReference).to.equal(charge['provider_reference']);
  });

  it('replays, from Python, a charge the TypeScript client created with the same key and payload (fingerprints are canonical across languages)', async function () {
    grpcPython(this);
    const key = randomUUID();
    const created = await callUnary(
      t.client,
      PaymentServiceClient.prototype.createCharge,
      {
        amount: '2100',
        currency: 'eur',
        paymentMethod: 'pm_card_visa',
        customerId: '',
        description: 'cross-language',
        metadata: { a: '1', b: '2' },
        captureMethod: CaptureMethod.CAPTURE_METHOD_UNSPECIFIED,
      },
      t.md(key),
    );
    expect(created.error).to.equal(undefined);
    const intentsBefore = t.sim.stats().paymentIntentsCreated;

    const stdout = await clientOk(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      // Other field and map order, and an explicit default: the same request to protobuf.
      JSON.stringify({
        metadata: { b: '2', a: '1' },
        description: 'cross-language',
        paymentMethod: 'pm_card_visa',
        currency: 'eur',
        amount: '2100',
        customerId: '',
      }),
      '-H',
      `authorization: Bearer ${t.apiKey}`,
      '-H',
      `idempotency-key: ${key}`,
    ]);

    expect((JSON.parse(stdout) as Record<string, unknown>)['id']).to.equal(created.response?.id);
    expect(t.sim.stats().paymentIntentsCreated).to.equal(intentsBefore);
  });

  it('reports UNAUTHENTICATED to a dynamic call without an API key', async function () {
    const result = await client(this, ['call', 'payments.v1.PaymentService/GetCharge', '{"chargeId":"ch_none"}']);

    expect(result.code).to.equal(1);
    expect(result.stderr.trim()).to.match(/^ERROR UNAUTHENTICATED /);
  });

  it('decodes the ErrorInfo and RetryInfo of an error from types it learns over reflection, as grpcurl does', async function () {
    const reused = randomUUID();
    const request = { amount: '1500', currency: 'usd', paymentMethod: 'pm_card_visa' };
    await clientOk(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      JSON.stringify(request),
      '-H',
      `authorization: Bearer ${t.apiKey}`,
      '-H',
      `idempotency-key: ${reused}`,
    ]);
    const result = await client(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      JSON.stringify({ ...request, amount: '1501' }),
      '-H',
      `authorization: Bearer ${t.apiKey}`,
      '-H',
      `idempotency-key: ${reused}`,
    ]);
    expect(result.code).to.equal(1);
    expect(statusDetails(result.stderr)).to.deep.equal([['google.rpc.ErrorInfo', { domain: 'payments.v1', reason: 'IDEMPOTENCY_KEY_REUSED' }]]);

    const invalid = await client(this, [
      'call',
      'payments.v1.PaymentService/CreateCharge',
      JSON.stringify({ ...request, amount: '-1' }),
      '-H',
      `authorization: Bearer ${t.apiKey}`,
      '-H',
      `idempotency-key: ${randomUUID()}`,
    ]);
    expect(statusDetails(invalid.stderr)).to.deep.equal([
      ['google.rpc.ErrorInfo', { domain: 'payments.v1', metadata: { field: 'amount' }, reason: 'FIELD_INVALID' }],
    ]);
  });

  it('describes google.rpc.RetryInfo over reflection, with its Duration import resolved', async function () {
    const stdout = await clientOk(this, ['files', '--symbol', 'google.rpc.RetryInfo']);
    const files = lines(stdout).map((line) => JSON.parse(line) as { name: string; dependency: string[] });
    expect(files.map((f) => f.name)).to.include.members(['google/rpc/error_details.proto', 'google/protobuf/duration.proto']);
  });
});
