import * as grpc from '@grpc/grpc-js';
import {
  type CancelChargeRequest,
  type CaptureChargeRequest,
  type Charge,
  type CreateChargeRequest,
  type GetChargeRequest,
  type ListChargesRequest,
  type ListChargesResponse,
  PaymentServiceClient,
  type Refund,
  type RefundChargeRequest,
} from '../../src/gen/payments/v1/payments.js';

export interface UnaryResult<Res> {
  response?: Res;
  error?: grpc.ServiceError;
  headers: grpc.Metadata;
}

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type FullSignature<Req, Res> = (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: Callback<Res>) => grpc.ClientUnaryCall;
/** `PaymentServiceClient.prototype.x` is untyped (the client is built at run time), so the response type follows the request type. */
type Method = (...args: never[]) => unknown;

/** Calls a unary method and collects the response or error together with the response headers. */
export function callUnary(
  client: PaymentServiceClient,
  method: Method,
  request: ListChargesRequest,
  md: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
): Promise<UnaryResult<ListChargesResponse>>;
export function callUnary(
  client: PaymentServiceClient,
  method: Method,
  request: RefundChargeRequest,
  md: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
): Promise<UnaryResult<Refund>>;
export function callUnary(
  client: PaymentServiceClient,
  method: Method,
  request: CreateChargeRequest | CaptureChargeRequest | CancelChargeRequest | GetChargeRequest,
  md: grpc.Metadata,
  options?: Partial<grpc.CallOptions>,
): Promise<UnaryResult<Charge>>;
export function callUnary(
  client: PaymentServiceClient,
  method: Method,
  request: unknown,
  md: grpc.Metadata,
  options: Partial<grpc.CallOptions> = {},
): Promise<UnaryResult<unknown>> {
  const fn = method as unknown as FullSignature<unknown, unknown>;
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = fn.call(client, request, md, options, (err, res) => {
      resolve(err ? { error: err, headers } : { response: res, headers });
    });
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

export function metadata(entries: Record<string, string | string[]>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) for (const value of Array.isArray(v) ? v : [v]) md.add(k, value);
  return md;
}

export function paymentClient(port: number): PaymentServiceClient {
  return new PaymentServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** A client that sends and receives raw bytes, to compare responses byte for byte. */
export function rawUnary(
  port: number,
  path: string,
  request: Uint8Array,
  md: grpc.Metadata,
  options: Partial<grpc.CallOptions> = {},
): Promise<{ bytes?: Buffer; error?: grpc.ServiceError; headers: grpc.Metadata }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.makeUnaryRequest<Uint8Array, Buffer>(
      path,
      (b) => Buffer.from(b),
      (b) => b,
      request,
      md,
      options,
      (err, bytes) => {
        client.close();
        resolve(err ? { error: err, headers } : { ...(bytes ? { bytes } : {}), headers });
      },
    );
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}
