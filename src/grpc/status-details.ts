import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

/**
 * google.rpc.Status with ErrorInfo and RetryInfo details, as carried in the
 * `grpc-status-details-bin` trailer. The three messages are tiny and stable,
 * so they are encoded here by field number instead of vendoring googleapis.
 */
export interface StatusDetails {
  code: number;
  message: string;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
  retryInfo?: { retryDelayMs: number };
}

const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

function any(writer: BinaryWriter, field: number, typeUrl: string, value: Uint8Array): void {
  writer
    .uint32((field << 3) | 2)
    .fork()
    .uint32(10)
    .string(typeUrl)
    .uint32(18)
    .bytes(value)
    .join();
}

export function encodeStatusDetails(d: StatusDetails): Buffer {
  const w = new BinaryWriter();
  if (d.code !== 0) w.uint32(8).int32(d.code);
  if (d.message !== '') w.uint32(18).string(d.message);
  if (d.errorInfo) {
    const e = new BinaryWriter();
    e.uint32(10).string(d.errorInfo.reason).uint32(18).string(d.errorInfo.domain);
    for (const k of Object.keys(d.errorInfo.metadata).sort()) {
      e.uint32(26)
        .fork()
        .uint32(10)
        .string(k)
        .uint32(18)
        .string(d.errorInfo.metadata[k] ?? '')
        .join();
    }
    any(w, 3, ERROR_INFO_TYPE, e.finish());
  }
  if (d.retryInfo) {
    const seconds = Math.floor(d.retryInfo.retryDelayMs / 1000);
    const nanos = (d.retryInfo.retryDelayMs % 1000) * 1_000_000;
    const duration = new BinaryWriter();
    if (seconds !== 0) duration.uint32(8).int64(seconds);
    if (nanos !== 0) duration.uint32(16).int32(nanos);
    const r = new BinaryWriter();
    r.uint32(10).bytes(duration.finish());
    any(w, 3, RETRY_INFO_TYPE, r.finish());
  }
  return Buffer.from(w.finish());
}

/** Decodes what encodeStatusDetails writes (used by tests and clients). */
export function decodeStatusDetails(bytes: Uint8Array): StatusDetails {
  const out: StatusDetails = { code: 0, message: '' };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 8) out.code = r.int32();
    else if (tag === 18) out.message = r.string();
    else if (tag === 26) {
      const a = new BinaryReader(r.bytes());
      let typeUrl = '';
      let value: Uint8Array = new Uint8Array();
      while (a.pos < a.len) {
        const t = a.uint32();
        if (t === 10) typeUrl = a.string();
        else if (t === 18) value = a.bytes();
        else a.skip(t & 7);
      }
      if (typeUrl === ERROR_INFO_TYPE) out.errorInfo = decodeErrorInfo(value);
      if (typeUrl === RETRY_INFO_TYPE) out.retryInfo = decodeRetryInfo(value);
    } else r.skip(tag & 7);
  }
  return out;
}

function decodeErrorInfo(bytes: Uint8Array): NonNullable<StatusDetails['errorInfo']> {
  const info = { reason: '', domain: '', metadata: {} as Record<string, string> };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 10) info.reason = r.string();
    else if (tag === 18) info.domain = r.string();
    else if (tag === 26) {
      const e = new BinaryReader(r.bytes());
      let k = '';
      let v = '';
      while (e.pos < e.len) {
        const t = e.uint32();
        if (t === 10) k = e.string();
        else if (t === 18) v = e.string();
        else e.skip(t & 7);
      }
      info.metadata[k] = v;
    } else r.skip(tag & 7);
  }
  return info;
}

function decodeRetryInfo(bytes: Uint8Array): NonNullable<StatusDetails['retryInfo']> {
  let ms = 0;
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag === 10) {
      const d = new BinaryReader(r.bytes());
      while (d.pos < d.len) {
        const t = d.uint32();
        if (t === 8) ms += Number(d.int64()) * 1000;
        else if (t === 16) ms += Math.round(d.int32() / 1_000_000);
        else d.skip(t & 7);
      }
    } else r.skip(tag & 7);
  }
  return { retryDelayMs: ms };
}
