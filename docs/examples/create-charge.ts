// Charges a card exactly once, however often the network or a server fails on the way.
//
//   PAYMENTS_TARGET=127.0.0.1:50051 PAYMENTS_API_KEY=sk_... node create-charge.js order-1001
//
// Prints one JSON line with the charge and how the call went.
import { ChargeStatus, Code, PaymentsClient, PaymentsError } from 'exactly-once-payments/client';

async function main(orderId: string): Promise<void> {
  const payments = new PaymentsClient({
    target: process.env['PAYMENTS_TARGET'] ?? '127.0.0.1:50051',
    apiKey: process.env['PAYMENTS_API_KEY'] ?? '',
    // One event per retry and per failed call; none carries a key or a payload.
    logger: (event) => console.error(JSON.stringify(event)),
  });
  try {
    // No key given: the client makes one and sends it on every attempt of this call.
    const result = await payments.createCharge({
      amount: '1500', // minor units: 15.00
      currency: 'usd',
      paymentMethod: 'pm_card_visa',
      metadata: { order_id: orderId },
    });
    const charge = result.response;
    console.log(
      JSON.stringify({
        chargeId: charge.id,
        status: ChargeStatus[charge.status],
        providerReference: charge.providerReference,
        replayed: result.replayed,
        attempts: result.attempts,
        // Keep the key with the order if you may have to retry this charge later, e.g. after
        // your own process restarts: the same key and request replay this same charge.
        idempotencyKey: result.idempotencyKey,
      }),
    );
  } catch (err) {
    if (err instanceof PaymentsError && err.code === Code.INVALID_ARGUMENT) {
      console.error(`fix the request (${err.field ?? 'no field'}): ${err.message}`);
    } else if (err instanceof PaymentsError) {
      console.error(`${err.codeName} ${err.reason ?? ''} after ${err.attempts} attempt(s): ${err.message}`);
    }
    throw err;
  } finally {
    payments.close();
  }
}

main(process.argv[2] ?? 'order-1001').catch(() => {
  process.exitCode = 1;
});
