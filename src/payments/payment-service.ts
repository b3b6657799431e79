import type {
  CancelChargeRequest,
  CaptureChargeRequest,
  Charge,
  CreateChargeRequest,
  GetChargeRequest,
  ListChargesRequest,
  ListChargesResponse,
  Refund,
  RefundChargeRequest,
} from '../gen/payments/v1/payments.js';
import type { ProviderClient } from '../provider/provider-client.js';
import { cancelCharge } from './cancel-charge.js';
import { captureCharge } from './capture-charge.js';
import { ChargeQueries } from './charge-queries.js';
import type { ChargeRepository } from './charge-repository.js';
import { createCharge } from './create-charge.js';
import type { PaymentClaim } from './payment-claim.js';
import type { PaymentDeps } from './payment-deps.js';
import { ProviderLookup } from './provider-lookup.js';
import { refundCharge } from './refund-charge.js';

/**
 * The payment use cases. Every mutating one runs with its call's claimed idempotency record: each
 * provider call carries a key derived from it, and each write joins its fenced transactions.
 */
export class PaymentService {
  private readonly deps: PaymentDeps;
  private readonly queries: ChargeQueries;

  constructor(
    repo: ChargeRepository,
    provider: ProviderClient,
    /**
     * The key that seals page tokens (PAYMENTS_PAGE_TOKEN_KEY); unset: the key stored in the
     * database (see storedPageTokenKey), shared by every instance and kept across restarts.
     */
    pageTokenKey?: Uint8Array,
  ) {
    this.deps = { repo, provider, lookup: new ProviderLookup(provider) };
    this.queries = new ChargeQueries(repo, pageTokenKey);
  }

  createCharge(merchantId: string, req: CreateChargeRequest, claim: PaymentClaim): Promise<Charge> {
    return createCharge(this.deps, merchantId, req, claim);
  }

  captureCharge(merchantId: string, req: CaptureChargeRequest, claim: PaymentClaim): Promise<Charge> {
    return captureCharge(this.deps, merchantId, req, claim);
  }

  cancelCharge(merchantId: string, req: CancelChargeRequest, claim: PaymentClaim): Promise<Charge> {
    return cancelCharge(this.deps, merchantId, req, claim);
  }

  refundCharge(merchantId: string, req: RefundChargeRequest, claim: PaymentClaim): Promise<Refund> {
    return refundCharge(this.deps, merchantId, req, claim);
  }

  getCharge(merchantId: string, req: GetChargeRequest): Promise<Charge> {
    return this.queries.getCharge(merchantId, req);
  }

  listCharges(merchantId: string, req: ListChargesRequest): Promise<ListChargesResponse> {
    return this.queries.listCharges(merchantId, req);
  }
}
