import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2';
import { CaptureMethod, type CreateChargeRequest } from '../src/gen/payments/v1/payments.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../src/idempotency/idempotency-key.js';
import { fitStatusMessage, MAX_STORED_MESSAGE_CODE_POINTS } from '../src/idempotency/mysql-idempotency-store.js';
import { type ChargeRecord, ChargeRepository, PROVIDER_TEXT_COLUMNS } from '../src/payments/charge-repository.js';
import { ChargeState } from '../src/payments/charge-status.js';
import { validateCreateCharge } from '../src/payments/request-validation.js';
import {
  CUSTOMER_ID_LIMIT,
  DESCRIPTION_LIMIT,
  MAX_AMOUNT,
  MAX_METADATA_ENTRIES,
  METADATA_KEY_LIMIT,
  METADATA_VALUE_LIMIT,
  PAYMENT_METHOD_LIMIT,
} from '../src/payments/validation.js';
import { sharedPool } from './support/database.js';

/** The most bytes one character can take: a control character JSON-escaped as \u00XX. */
const WORST_JSON_BYTES_PER_CHAR = 6;
/** The most bytes one character can take in UTF-8 (an astral code point). */
const WORST_UTF8_BYTES_PER_CHAR = 4;

interface Column {
  chars: number | null;
  octets: number | null;
}

async function columns(table: string): Promise<Map<string, Column>> {
  const pool = await sharedPool();
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, CHARACTER_MAXIMUM_LENGTH AS chars, CHARACTER_OCTET_LENGTH AS octets
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [table],
  );
  return new Map(
    rows.map((r) => [String(r['name']), { chars: r['chars'] === null ? null : Number(r['chars']), octets: r['octets'] === null ? null : Number(r['octets']) }]),
  );
}

/** `n` characters of the widest kind: astral code points (4 bytes in UTF-8, 2 UTF-16 units). */
const widest = (n: number, seed = 0): string => Array.from({ length: n }, (_, i) => String.fromCodePoint(0x1f600 + ((i + seed) % 64))).join('');

/** The largest metadata validation accepts, as bytes of its JSON column: control characters escape to 6 bytes each. */
function worstMetadata(): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < MAX_METADATA_ENTRIES; i++) {
    const suffix = String(i).padStart(2, '0');
    out['\u0001'.repeat(METADATA_KEY_LIMIT.chars - suffix.length) + suffix] = '\u0001'.repeat(METADATA_VALUE_LIMIT.chars);
  }
  return out;
}

describe('every value validation accepts fits the column it lands in (derived from the live schema)', () => {
  it('gives each validated text column room for its character and byte limits', async () => {
    const charges = await columns('charges');
    for (const [column, limit] of [
      ['customer_id', CUSTOMER_ID_LIMIT],
      ['description', DESCRIPTION_LIMIT],
      ['payment_method', PAYMENT_METHOD_LIMIT],
    ] as const) {
      const c = charges.get(column);
      expect(c?.chars, column).to.be.at.least(limit.chars);
      expect(c?.octets, column).to.be.at.least(limit.bytes);
      expect(limit.bytes, column).to.be.at.least(limit.chars * WORST_UTF8_BYTES_PER_CHAR);
    }
    for (const [column, chars] of [
      ['failure_code', PROVIDER_TEXT_COLUMNS.failureCode],
      ['decline_code', PROVIDER_TEXT_COLUMNS.declineCode],
      ['failure_message', PROVIDER_TEXT_COLUMNS.failureMessage],
      ['provider_reference', PROVIDER_TEXT_COLUMNS.providerReference],
    ] as const) {
      // Provider text is cut to these many code points before it is written.
      expect(charges.get(column)?.chars, column).to.be.at.least(chars);
      expect(charges.get(column)?.octets, column).to.be.at.least(chars * WORST_UTF8_BYTES_PER_CHAR);
    }
    const metadataBytes = Buffer.byteLength(JSON.stringify(worstMetadata()));
    const bound = 2 + MAX_METADATA_ENTRIES * ((METADATA_KEY_LIMIT.chars + METADATA_VALUE_LIMIT.chars) * WORST_JSON_BYTES_PER_CHAR + 6);
    expect(metadataBytes).to.be.at.most(bound);
    expect(charges.get('metadata')?.octets).to.be.at.least(bound);
    const keys = await columns('idempotency_keys');
    expect(keys.get('idempotency_key')?.chars).to.be.at.least(MAX_IDEMPOTENCY_KEY_LENGTH);
    expect(keys.get('response_message')?.octets).to.be.at.least(MAX_STORED_MESSAGE_CODE_POINTS * WORST_UTF8_BYTES_PER_CHAR);
  });

  it('accepts the largest request and stores it in strict mode: widest characters at every limit, the worst-escaped metadata', async () => {
    const request: CreateChargeRequest = {
      amount: String(MAX_AMOUNT),
      currency: 'usd',
      paymentMethod: widest(PAYMENT_METHOD_LIMIT.chars),
      customerId: widest(CUSTOMER_ID_LIMIT.chars, 1),
      description: widest(DESCRIPTION_LIMIT.chars, 2),
      metadata: worstMetadata(),
      captureMethod: CaptureMethod.CAPTURE_METHOD_MANUAL,
    };
    expect(() => validateCreateCharge(request)).to.not.throw();
    const pool = await sharedPool();
    const now = new Date();
    const charge: ChargeRecord = {
      id: `ch_${randomUUID().replace(/-/g, '')}`,
      merchantId: `mer_fit_${randomUUID().slice(0, 8)}`,
      status: ChargeState.RequiresCapture,
      amount: MAX_AMOUNT,
      amountCaptured: 0,
      amountRefunded: 0,
      currency: 'usd',
      customerId: request.customerId,
      description: request.description,
      metadata: request.metadata,
      captureMethod: 'manual',
      paymentMethod: request.paymentMethod,
      // Provider text at its column widths, as truncateCodePoints leaves it, in the widest characters.
      failureCode: widest(PROVIDER_TEXT_COLUMNS.failureCode),
      declineCode: widest(PROVIDER_TEXT_COLUMNS.declineCode),
      failureMessage: widest(PROVIDER_TEXT_COLUMNS.failureMessage),
      providerReference: widest(PROVIDER_TEXT_COLUMNS.providerReference),
      createdAt: now,
      updatedAt: now,
    };
    const repo = new ChargeRepository(pool);
    // Written directly, with no claim: no fence to guard it.
    await repo.execute([repo.insertCharge(charge, null, { sql: 'TRUE', values: [] })]);
    const stored = await repo.findCharge(charge.merchantId, charge.id);
    expect(stored?.metadata).to.deep.equal(request.metadata);
    expect(stored?.description).to.equal(request.description);
    await pool.query('DELETE FROM charges WHERE id = ?', [charge.id]);
  });

  it('cuts a stored status message to its column without splitting a character', () => {
    const message = widest(MAX_STORED_MESSAGE_CODE_POINTS + 10);
    const fitted = fitStatusMessage(message);
    expect(Array.from(fitted)).to.have.length(MAX_STORED_MESSAGE_CODE_POINTS);
    expect(fitted.endsWith('…')).to.equal(true);
    expect(Buffer.from(fitted, 'utf8').toString('utf8')).to.equal(fitted); // no lone surrogate
    expect(fitStatusMessage('short')).to.equal('short');
  });
});
