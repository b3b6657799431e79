import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { SimulatorResponse } from './simulator-response.js';

/** Provider requests are small forms; anything larger is refused rather than buffered. */
const MAX_REQUEST_BYTES = 1024 * 1024;

/** Writes one simulator answer with Stripe's headers; nothing when the response is already gone. */
export function send(res: http.ServerResponse, response: SimulatorResponse, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.destroyed) return;
  res.writeHead(response.status, {
    ...extra,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(response.body),
    'request-id': `req_${randomBytes(7).toString('hex')}`,
  });
  res.end(response.body);
}

/** The whole request body, or undefined when it exceeds MAX_REQUEST_BYTES. */
export function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client went away before sending the whole request'));
    });
  });
}

export function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
