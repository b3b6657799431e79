/** Charge states as stored in `charges.status` (DESIGN §5). */
export const ChargeState = {
  Succeeded: 'succeeded',
  RequiresCapture: 'requires_capture',
  Failed: 'failed',
  Canceled: 'canceled',
  Refunded: 'refunded',
  PartiallyRefunded: 'partially_refunded',
} as const;
export type ChargeState = (typeof ChargeState)[keyof typeof ChargeState];

const STATES: readonly string[] = Object.values(ChargeState);

export function parseChargeState(value: string): ChargeState {
  if (!STATES.includes(value)) throw new Error(`unknown charge state "${value}"`);
  return value as ChargeState;
}

/** State after refunding: fully refunded once every captured unit is returned. */
export function stateAfterRefund(amountCaptured: number, amountRefunded: number): ChargeState {
  return amountRefunded >= amountCaptured ? ChargeState.Refunded : ChargeState.PartiallyRefunded;
}
