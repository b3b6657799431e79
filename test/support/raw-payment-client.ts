import * as grpc from '@grpc/grpc-js';

/** Everything a client can observe of one unary call, with the response as the bytes on the wire. */
export interface RawAnswer {
  code: grpc.status;
  details: string;
  /** The serialized response message (OK only). */
  bytes?: Buffer;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

/**
 * A client that keeps one channel open and sends and receives raw bytes, so a
 * retry's response can be compared with the first one byte for byte (decoding
 * and re-encoding would hide differences in field order or unknown fields).
 */
export class RawPaymentClient {
  private readonly client: grpc.Client;

  constructor(port: number) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }

  call(path: string, request: Uint8Array, md: grpc.Metadata, deadlineMs: number): Promise<RawAnswer> {
    return new Promise((resolve) => {
      let headers = new grpc.Metadata();
      let bytes: Buffer | undefined;
      const call = this.client.makeUnaryRequest<Uint8Array, Buffer>(
        path,
        (b) => Buffer.from(b),
        (b) => b,
        request,
        md,
        { deadline: Date.now() + deadlineMs },
        (err, response) => {
          if (!err) bytes = response;
        },
      );
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
      // 'status' comes after the callback and carries the trailers of successes and errors alike.
      call.on('status', (s: grpc.StatusObject) => {
        resolve({ code: s.code, details: s.details, ...(bytes ? { bytes } : {}), headers, trailers: s.metadata });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
