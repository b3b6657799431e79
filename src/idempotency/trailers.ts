import { Metadata } from '@grpc/grpc-js';

/** Trailing metadata as stored with an outcome: [key, value] pairs, `-bin` values base64. */
export function encodeTrailers(metadata: Metadata | null | undefined): Array<[string, string]> {
  if (!metadata) return [];
  const out: Array<[string, string]> = [];
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) out.push([key, Buffer.isBuffer(value) ? value.toString('base64') : String(value)]);
  }
  return out;
}

export function decodeTrailers(pairs: Array<[string, string]>): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of pairs) {
    if (key.endsWith('-bin')) metadata.add(key, Buffer.from(value, 'base64'));
    else metadata.add(key, value);
  }
  return metadata;
}
