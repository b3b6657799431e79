import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { PaymentServiceClient, PaymentServiceService } from '../../src/gen/payments/v1/payments.js';
import { authInterceptor, merchantOf } from '../../src/grpc/auth-interceptor.js';
import { type IdempotencyOptions, idempotencyInterceptor, keyedMethods } from '../../src/idempotency/idempotency-interceptor.js';
import { withRawMessages } from '../../src/idempotency/raw-response.js';
import { RecoveryPoint } from '../../src/idempotency/record.js';
import { createLogger } from '../../src/logger.js';
import { DESCRIPTOR_SET_PATH } from '../../src/server.js';

export const TEST_API_KEY = 'test-key';

type Handlers = Record<
  'createCharge' | 'captureCharge' | 'refundCharge' | 'cancelCharge' | 'getCharge' | 'listCharges',
  grpc.handleUnaryCall<unknown, unknown>
>;

export interface InterceptorServer {
  port: number;
  client: PaymentServiceClient;
  close(): void;
}

/**
 * The idempotency interceptor alone (behind the auth interceptor, which maps
 * TEST_API_KEY to `merchantId`) in front of hand-written handlers, for tests
 * that give it a store wrapped around the real MySQL one.
 */
export async function startInterceptorServer(
  o: {
    merchantId: string;
    handlers: Partial<Handlers>;
    /** The service definition registered (default PaymentServiceService), e.g. one whose deserializers count their calls. */
    service?: typeof PaymentServiceService;
  } & Pick<IdempotencyOptions, 'store'> &
    Partial<Omit<IdempotencyOptions, 'store'>>,
): Promise<InterceptorServer> {
  const log = createLogger('silent');
  const { merchantId, handlers, service = PaymentServiceService, ...options } = o;
  const descriptorSet = readFileSync(DESCRIPTOR_SET_PATH);
  const server = new grpc.Server({
    interceptors: [
      authInterceptor(async (apiKey) => (apiKey === TEST_API_KEY ? merchantId : undefined), log),
      idempotencyInterceptor({
        descriptorSet,
        services: [PaymentServiceService],
        scopeOf: merchantOf,
        ttlSeconds: 60,
        leaseSeconds: 30,
        maxWaitMs: 5000,
        initialRecoveryPoint: () => RecoveryPoint.ProviderRequested,
        log,
        ...options,
      }),
    ],
  });
  const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED });
  // As the server registers it: the interceptor's methods get their requests decoded on demand.
  server.addService(withRawMessages(service, keyedMethods(descriptorSet, [PaymentServiceService])), {
    createCharge: unimplemented,
    captureCharge: unimplemented,
    refundCharge: unimplemented,
    cancelCharge: unimplemented,
    getCharge: unimplemented,
    listCharges: unimplemented,
    ...handlers,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new PaymentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    port,
    client,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}
