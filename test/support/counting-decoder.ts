import { PaymentServiceService } from '../../src/gen/payments/v1/payments.js';

/** PaymentServiceService whose CreateCharge request decoder counts its calls (how often a request was decoded). */
export function countingCreateChargeDecoder(): { service: typeof PaymentServiceService; decodes: () => number } {
  let n = 0;
  const createCharge = PaymentServiceService.createCharge;
  return {
    service: {
      ...PaymentServiceService,
      createCharge: {
        ...createCharge,
        requestDeserialize: (bytes: Buffer) => {
          n++;
          return createCharge.requestDeserialize(bytes);
        },
      },
    },
    decodes: () => n,
  };
}
