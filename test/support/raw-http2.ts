import http2 from 'node:http2';

/** One length-prefixed gRPC message frame (uncompressed). */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(out, 5);
  return out;
}

/**
 * A gRPC call over plain HTTP/2 that sends the given messages in one request
 * stream, as no gRPC client library would on a unary method; resolves with
 * the response headers and trailers merged.
 */
export function rawHttp2Messages(port: number, path: string, messages: Uint8Array[], headers: Record<string, string>): Promise<http2.IncomingHttpHeaders> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => {
      responseHeaders = h;
    });
    req.on('trailers', (trailers) => {
      session.close();
      resolve({ ...responseHeaders, ...trailers });
    });
    req.on('end', () => {
      session.close();
      resolve(responseHeaders);
    });
    req.on('error', reject);
    req.resume();
    req.end(Buffer.concat(messages.map(frame)));
  });
}
