import type { Charge, GetChargeRequest, ListChargesRequest, ListChargesResponse } from '../gen/payments/v1/payments.js';
import { ApiError } from '../grpc/api-error.js';
import { chargeToProto } from './charge-mapper.js';
import type { ChargeRepository } from './charge-repository.js';
import { merchantCharge } from './merchant-charge.js';
import { InvalidPageTokenError, PageTokens } from './page-token.js';
import { storedPageTokenKey } from './stored-page-token-key.js';
import { MAX_CUSTOMER_ID_LENGTH, optionalText } from './validation.js';

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;

/** The read side: GetCharge and ListCharges (no claim, no provider). */
export class ChargeQueries {
  private pageTokensLoading: Promise<PageTokens> | undefined;

  constructor(
    private readonly repo: ChargeRepository,
    /**
     * The key that seals page tokens (PAYMENTS_PAGE_TOKEN_KEY); unset: the key stored in the
     * database (see storedPageTokenKey), shared by every instance and kept across restarts.
     */
    private readonly pageTokenKey?: Uint8Array,
  ) {}

  async getCharge(merchantId: string, req: GetChargeRequest): Promise<Charge> {
    return chargeToProto(await merchantCharge(this.repo, merchantId, req.chargeId));
  }

  async listCharges(merchantId: string, req: ListChargesRequest): Promise<ListChargesResponse> {
    if (req.pageSize < 0) throw ApiError.invalidArgument('page_size: must not be negative', { reason: 'FIELD_INVALID', metadata: { field: 'page_size' } });
    const limit = Math.min(req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize, MAX_PAGE_SIZE);
    const customerId = req.customerId === '' ? undefined : optionalText('customer_id', req.customerId, MAX_CUSTOMER_ID_LENGTH);
    const scope = { merchantId, customerId: customerId ?? '' };
    const tokens = await this.pageTokens();
    let beforeSeq: string | undefined;
    if (req.pageToken !== '') {
      try {
        beforeSeq = tokens.open(req.pageToken, scope);
      } catch (err) {
        if (!(err instanceof InvalidPageTokenError)) throw err;
        throw ApiError.invalidArgument('page_token: invalid or does not match this filter; pass next_page_token from the previous page unchanged', {
          reason: 'FIELD_INVALID',
          metadata: { field: 'page_token' },
        });
      }
    }
    const page = await this.repo.listCharges(merchantId, { limit, beforeSeq, customerId });
    return {
      charges: page.charges.map(chargeToProto),
      nextPageToken: page.more && page.lastSeq ? tokens.seal(page.lastSeq, scope) : '',
    };
  }

  /** Loads the key once; a failed load (store outage) is retried by the next call. */
  private pageTokens(): Promise<PageTokens> {
    this.pageTokensLoading ??= (this.pageTokenKey ? Promise.resolve(this.pageTokenKey) : storedPageTokenKey(this.repo)).then(
      (key) => new PageTokens(key),
      (err: unknown) => {
        this.pageTokensLoading = undefined;
        throw err;
      },
    );
    return this.pageTokensLoading;
  }
}
