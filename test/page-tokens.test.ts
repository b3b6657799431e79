import { randomBytes, randomUUID } from 'node:crypto';
import { status as Code } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { type ListChargesRequest, PaymentServiceClient } from '../src/gen/payments/v1/payments.js';
import { ChargeRepository } from '../src/payments/charge-repository.js';
import { PaymentService } from '../src/payments/payment-service.js';
import { ProviderClient } from '../src/provider/provider-client.js';
import { callUnary, metadata } from './support/grpc-client.js';
import { startTestServer, type TestServer } from './support/test-server.js';

/** The longest customer_id the API accepts (validation.ts). */
const LONGEST_CUSTOMER_ID = 'c'.repeat(255);

describe('ListCharges page tokens', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  const list = (req: Partial<ListChargesRequest>, md = t.md()) =>
    callUnary(t.client, PaymentServiceClient.prototype.listCharges, { pageSize: 1, pageToken: '', customerId: '', ...req }, md);

  async function createCharges(customerId: string, n: number, md = (key: string) => t.md(key)): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const created = await callUnary(
        t.client,
        PaymentServiceClient.prototype.createCharge,
        { amount: '100', currency: 'usd', paymentMethod: 'pm_card_visa', customerId, description: '', metadata: {}, captureMethod: 0 },
        md(randomUUID()),
      );
      expect(created.error).to.equal(undefined);
      ids.push(created.response!.id);
    }
    return ids.reverse(); // newest first, as pages list them
  }

  /** Follows next_page_token to the end; fails on any error. */
  async function allPages(req: Partial<ListChargesRequest>): Promise<{ ids: string[]; tokens: string[] }> {
    const ids: string[] = [];
    const tokens: string[] = [];
    let pageToken = '';
    do {
      const page = await list({ ...req, pageToken });
      expect(page.error, page.error?.details).to.equal(undefined);
      ids.push(...page.response!.charges.map((c) => c.id));
      pageToken = page.response!.nextPageToken;
      if (pageToken !== '') tokens.push(pageToken);
    } while (pageToken !== '');
    return { ids, tokens };
  }

  it('pages through a customer_id of the longest allowed length (255 characters)', async () => {
    const created = await createCharges(LONGEST_CUSTOMER_ID, 3);

    const { ids, tokens } = await allPages({ customerId: LONGEST_CUSTOMER_ID });

    expect(ids).to.deep.equal(created);
    expect(tokens.map((token) => token.length)).to.deep.equal([43, 43]);
  });

  it('issues tokens that do not reveal the global charge sequence', async () => {
    // A large seq, so that neither its digits nor its 8 bytes can appear in a token by chance.
    await t.pool.query('ALTER TABLE charges AUTO_INCREMENT = 987654321012345');
    const created = await createCharges('cus_opaque', 2);
    const [rows] = await t.pool.query<RowDataPacket[]>('SELECT seq FROM charges WHERE id = ?', [created[0]]);
    const seq = BigInt(String(rows[0]?.['seq']));
    expect(seq > 987654321012345n).to.equal(true);

    const token = (await list({ customerId: 'cus_opaque' })).response!.nextPageToken;

    const bytes = Buffer.from(token, 'base64url');
    const seqBytes = Buffer.alloc(8);
    seqBytes.writeBigUInt64BE(seq);
    expect(bytes.toString('latin1')).to.not.include(seq.toString());
    expect(bytes.includes(seqBytes.subarray(1)), 'seq as big-endian bytes').to.equal(false);
    expect(bytes.includes(Buffer.from(seqBytes).reverse().subarray(0, 7)), 'seq as little-endian bytes').to.equal(false);
  });

  it('refuses with INVALID_ARGUMENT a token used by another merchant, with another filter, or tampered with', async () => {
    await createCharges('cus_bound', 2);
    const token = (await list({ customerId: 'cus_bound' })).response!.nextPageToken;
    const other = await t.newMerchant();
    const tampered = Buffer.from(token, 'base64url');
    tampered[3]! ^= 0x01;

    const refusals = [
      await list({ customerId: 'cus_bound', pageToken: token }, metadata({ authorization: `Bearer ${other.apiKey}` })),
      await list({ customerId: 'cus_other', pageToken: token }),
      await list({ customerId: '', pageToken: token }),
      await list({ customerId: 'cus_bound', pageToken: tampered.toString('base64url') }),
    ];

    for (const refused of refusals) {
      expect(refused.error?.code).to.equal(Code.INVALID_ARGUMENT);
      expect(refused.error?.details).to.match(/^page_token: /);
    }
    expect((await list({ customerId: 'cus_bound', pageToken: token })).error).to.equal(undefined);
  });

  it('accepts a token on another instance sharing the database (the stored key), and not under another configured key', async () => {
    await createCharges('cus_shared', 2);
    const token = (await list({ customerId: 'cus_shared' })).response!.nextPageToken;
    const second = await startTestServer({ pool: t.pool, sim: t.sim });
    const provider = new ProviderClient({ baseUrl: t.sim.url, secretKey: t.sim.secretKey });
    try {
      const onSecond = await callUnary(
        second.client,
        PaymentServiceClient.prototype.listCharges,
        { pageSize: 1, pageToken: token, customerId: 'cus_shared' },
        t.md(),
      );
      expect(onSecond.error).to.equal(undefined);
      expect(onSecond.response!.charges).to.have.length(1);

      const configured = new PaymentService(new ChargeRepository(t.pool), provider, randomBytes(32));
      let refused: unknown;
      await configured.listCharges(t.merchantId, { pageSize: 1, pageToken: token, customerId: 'cus_shared' }).catch((err: unknown) => (refused = err));
      expect(refused).to.have.property('code', Code.INVALID_ARGUMENT);
      const ownToken = (await configured.listCharges(t.merchantId, { pageSize: 1, pageToken: '', customerId: 'cus_shared' })).nextPageToken;
      expect((await configured.listCharges(t.merchantId, { pageSize: 1, pageToken: ownToken, customerId: 'cus_shared' })).charges).to.have.length(1);
    } finally {
      provider.close();
      await second.close();
    }
  });
});
