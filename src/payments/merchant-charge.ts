import { ApiError } from '../grpc/api-error.js';
import type { ChargeRecord, ChargeRepository } from './charge-repository.js';
import { requireChargeId } from './validation.js';

/** The merchant's charge `chargeId`; NOT_FOUND when there is none. */
export async function merchantCharge(repo: ChargeRepository, merchantId: string, chargeId: string): Promise<ChargeRecord> {
  const id = requireChargeId(chargeId);
  const charge = await repo.findCharge(merchantId, id);
  // Another merchant's charge is indistinguishable from a missing one.
  if (!charge) throw ApiError.notFound(`charge_id: no charge "${id}"`);
  return charge;
}
