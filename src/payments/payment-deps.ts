import type { ProviderClient } from '../provider/provider-client.js';
import type { ChargeRepository } from './charge-repository.js';
import type { ProviderLookup } from './provider-lookup.js';

/** What the payment use cases work with. */
export interface PaymentDeps {
  repo: ChargeRepository;
  provider: ProviderClient;
  /** Finds an earlier attempt's payment or refund at the provider (past its idempotency window). */
  lookup: ProviderLookup;
}
