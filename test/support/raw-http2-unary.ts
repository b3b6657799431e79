import http2 from 'node:http2';

/** What a gRPC server answered, read straight from HTTP/2 headers and trailers. */
export interface Http2GrpcAnswer {
  /** grpc-status (a number), or undefined when the server sent none. */
  code: number | undefined;
  details: string;
}

/**
 * One unary gRPC call over a bare HTTP/2 stream, for header values grpc-js's
 * client refuses to send (tabs, bytes 0x80-0xff): the server must judge them,
 * not the client library. `message` is the serialized request.
 */
export function http2Unary(port: number, path: string, message: Uint8Array, headers: Record<string, string>, deadlineMs: number): Promise<Http2GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const finish = (answer: Http2GrpcAnswer | Error): void => {
      clearTimeout(timer);
      session.close();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    const timer = setTimeout(() => finish(new Error(`no gRPC status within ${deadlineMs} ms`)), deadlineMs);
    session.on('error', (err) => finish(err));
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let code: number | undefined;
    let details = '';
    const read = (h: http2.IncomingHttpHeaders): void => {
      const s = h['grpc-status'];
      if (typeof s === 'string') code = Number(s);
      const m = h['grpc-message'];
      if (typeof m === 'string') details = decodeURIComponent(m);
    };
    // A trailers-only answer carries grpc-status in the response headers.
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('data', () => undefined);
    stream.on('end', () => finish({ code, details }));
    stream.on('error', (err) => finish(err));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.end(frame);
  });
}
