/** Charge states as stored in `charges.status` (DESIGN §5). */
export const ChargeState = {
  Succeeded: 'succeeded',
  RequiresCapture: 'requires_capture',
  Failed: 'failed',
  Canceled: 'canceled',
  Refunded: 'refunded',
  PartiallyRefunded: 'partially_refunded',
  /** The provider has not finished the payment (Stripe's `processing`): not a failure, money may still move. */
  Processing: 'processing',
  /** The customer must act, e.g. 3-D Secure (Stripe's `requires_action`): not a failure. */
  RequiresAction: 'requires_action',
} as const;
export type ChargeState = (typeof ChargeState)[keyof typeof ChargeState];

const STATES: readonly string[] = Object.values(ChargeState);

export function parseChargeState(value: string): ChargeState {
  if (!STATES.includes(value)) throw new Error(`unknown charge state "${value}"`);
  return value as ChargeState;
}

/** States whose captured money can be refunded. */
export const REFUNDABLE_STATES: readonly ChargeState[] = [ChargeState.Succeeded, ChargeState.PartiallyRefunded];

/** States the provider has not settled: nothing can be captured, canceled or refunded until they change. */
export const UNSETTLED_STATES: readonly ChargeState[] = [ChargeState.Processing, ChargeState.RequiresAction];

/** State after refunding: fully refunded once every captured unit is returned. */
export function stateAfterRefund(amountCaptured: number, amountRefunded: number): ChargeState {
  return amountRefunded >= amountCaptured ? ChargeState.Refunded : ChargeState.PartiallyRefunded;
}
