import { NeedsAttentionError } from '../idempotency/needs-attention-error.js';
import { metadataSearchQuery, type ProviderClient } from '../provider/provider-client.js';
import type { PaymentIntent, ProviderRefund } from '../provider/provider-types.js';
import { IDEMPOTENCY_REFERENCE_KEY } from './provider-reference.js';

/**
 * Pages of 100 refunds read at most when looking one up: far more refunds than one payment
 * ever has, and a bound on how long an undecidable lookup runs before it is handed to an operator.
 */
const MAX_REFUND_LOOKUP_PAGES = 20;

/**
 * Finds what an earlier attempt created at the provider, by the reference it sent
 * (IDEMPOTENCY_REFERENCE_KEY), for an attempt resumed past the provider's idempotency window.
 * Resolves undefined when nothing carries the reference (nothing was created: create it now);
 * throws NeedsAttentionError when the answer is not one object.
 *
 * Stripe's search index trails writes by up to about a minute; a lookup runs only for rows older
 * than the provider's idempotency window (hours), long after the earlier attempt's payment became
 * searchable. Refunds are listed per payment instead, which reads current data.
 */
export class ProviderLookup {
  constructor(private readonly provider: ProviderClient) {}

  async paymentIntent(reference: string): Promise<PaymentIntent | undefined> {
    const result = await this.provider.searchPaymentIntents(metadataSearchQuery(IDEMPOTENCY_REFERENCE_KEY, reference));
    // The search is exact on a reference unique to one claimed row, so two matches mean
    // something else created a payment with it: which one is ours is an operator's call.
    const matches = result.data.filter((pi) => pi.metadata[IDEMPOTENCY_REFERENCE_KEY] === reference);
    if (matches.length > 1 || result.has_more) {
      throw new NeedsAttentionError('provider_lookup_ambiguous', `${result.data.length} payments at the provider carry one idempotency reference`);
    }
    return matches[0];
  }

  async refund(paymentIntent: string, reference: string): Promise<ProviderRefund | undefined> {
    const matches: ProviderRefund[] = [];
    let startingAfter: string | undefined;
    for (let page = 0; page < MAX_REFUND_LOOKUP_PAGES; page++) {
      const list = await this.provider.listRefunds(paymentIntent, startingAfter);
      matches.push(...list.data.filter((r) => r.metadata[IDEMPOTENCY_REFERENCE_KEY] === reference));
      const last = list.data.at(-1);
      if (!list.has_more || last === undefined) {
        if (matches.length > 1)
          throw new NeedsAttentionError('provider_lookup_ambiguous', `${matches.length} refunds at the provider carry one idempotency reference`);
        return matches[0];
      }
      startingAfter = last.id;
    }
    throw new NeedsAttentionError('provider_lookup_incomplete', `a payment has more than ${MAX_REFUND_LOOKUP_PAGES} pages of refunds at the provider`);
  }
}
