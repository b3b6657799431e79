import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import {
  ProviderAuthenticationError,
  ProviderCardError,
  type ProviderError,
  ProviderInvalidRequestError,
  ProviderUnavailableError,
  type UnavailableReason,
} from './provider-error.js';
import { parsePaymentIntent, parsePaymentIntentSearchResult, parseProviderErrorBody, parseProviderRefund, parseRefundList } from './provider-response.js';
import type { CreatePaymentIntentParams, CreateRefundParams, PaymentIntent, PaymentIntentSearchResult, ProviderRefund, RefundList } from './provider-types.js';

/**
 * Whole-call deadline (connect + send + answer). Stripe documents that its API can take several
 * seconds under load; 10 s leaves room for that while bounding how long a charge holds its
 * idempotency lease (30 s by default), so a timed-out call is still recovered by its own leader.
 */
export const DEFAULT_PROVIDER_TIMEOUT_MS = 10_000;

/**
 * How long an idle keep-alive socket stays pooled. Below the 5 s keep-alive timeout of a default
 * Node server (and far below Stripe's), so the client drops idle sockets before a server does:
 * a request written onto a socket the server is closing meets a reset, and a reset after sending
 * is an unknown outcome that forces a recovery round.
 */
export const IDLE_SOCKET_TIMEOUT_MS = 4_000;

/** Stripe's largest page for lists and searches. */
const MAX_LIST_LIMIT = 100;

/**
 * A Stripe search clause matching one metadata entry exactly: `metadata['key']:'value'`, with
 * quotes and backslashes escaped by a backslash as Stripe's query language requires.
 */
export function metadataSearchQuery(key: string, value: string): string {
  const quote = (text: string): string => `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
  return `metadata[${quote(key)}]:${quote(value)}`;
}

/** Answers larger than this are not ours to parse; Stripe objects are a few kilobytes. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface ProviderClientOptions {
  /** e.g. `https://api.stripe.com` or the simulator's `http://127.0.0.1:PORT`. */
  baseUrl: string;
  secretKey: string;
  /** Deadline for one whole call; defaults to DEFAULT_PROVIDER_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Connection pool; by default a keep-alive agent owned (and closed) by this client. */
  agent?: http.Agent;
}

type FormValue = string | number | boolean | undefined;

/**
 * Stripe-compatible HTTP adapter. Every method either resolves with the provider's object or
 * rejects with a ProviderError whose `outcome` says what the failure means for exactly-once.
 * It never retries: whether a retry is safe, and when, is the caller's decision.
 */
export class ProviderClient {
  private readonly base: URL;
  private readonly transport: typeof http | typeof https;
  private readonly authorization: string;
  private readonly secretKey: string;
  private readonly timeoutMs: number;
  private readonly agent: http.Agent;
  private readonly ownsAgent: boolean;

  constructor(opts: ProviderClientOptions) {
    this.base = new URL(opts.baseUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new TypeError(`provider URL must be http or https, got ${this.base.protocol}`);
    }
    if (opts.secretKey === '') throw new TypeError('provider secret key is empty');
    this.transport = this.base.protocol === 'https:' ? https : http;
    this.secretKey = opts.secretKey;
    this.authorization = `Bearer ${opts.secretKey}`;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;
    if (opts.agent === undefined) {
      const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_TIMEOUT_MS, noDelay: true };
      this.agent = this.base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
      this.ownsAgent = true;
    } else {
      this.agent = opts.agent;
      this.ownsAgent = false;
    }
  }

  /** `POST /v1/payment_intents` with `confirm=true`. A decline rejects with ProviderCardError. */
  createPaymentIntent(p: CreatePaymentIntentParams, idempotencyKey: string): Promise<PaymentIntent> {
    const form: [string, FormValue][] = [
      ['amount', p.amount],
      ['currency', p.currency],
      ['payment_method', p.paymentMethod],
      ['confirm', true],
      ['capture_method', p.captureMethod],
      ['customer', p.customer],
      ['description', p.description],
    ];
    for (const [k, v] of Object.entries(p.metadata ?? {})) form.push([`metadata[${k}]`, v]);
    return this.call('POST', '/v1/payment_intents', form, idempotencyKey, parsePaymentIntent);
  }

  /** `POST /v1/payment_intents/{id}/capture`; `amountToCapture` undefined captures everything. */
  capturePaymentIntent(id: string, amountToCapture: number | undefined, idempotencyKey: string): Promise<PaymentIntent> {
    const path = `/v1/payment_intents/${encodeURIComponent(id)}/capture`;
    return this.call('POST', path, [['amount_to_capture', amountToCapture]], idempotencyKey, parsePaymentIntent);
  }

  /** `POST /v1/payment_intents/{id}/cancel`. */
  cancelPaymentIntent(id: string, idempotencyKey: string): Promise<PaymentIntent> {
    const path = `/v1/payment_intents/${encodeURIComponent(id)}/cancel`;
    return this.call('POST', path, [], idempotencyKey, parsePaymentIntent);
  }

  /** `POST /v1/refunds`. */
  createRefund(p: CreateRefundParams, idempotencyKey: string): Promise<ProviderRefund> {
    const form: [string, FormValue][] = [
      ['payment_intent', p.paymentIntent],
      ['amount', p.amount],
    ];
    for (const [k, v] of Object.entries(p.metadata ?? {})) form.push([`metadata[${k}]`, v]);
    return this.call('POST', '/v1/refunds', form, idempotencyKey, parseProviderRefund);
  }

  /**
   * `GET /v1/payment_intents/search?query=...` (Stripe's search query language, e.g. from
   * metadataSearchQuery). Stripe's search index trails writes by up to about a minute, so only
   * objects older than that are certain to be found.
   */
  searchPaymentIntents(query: string, page?: string): Promise<PaymentIntentSearchResult> {
    const params = new URLSearchParams({ query, limit: String(MAX_LIST_LIMIT) });
    if (page !== undefined) params.set('page', page);
    return this.call('GET', `/v1/payment_intents/search?${params.toString()}`, undefined, undefined, parsePaymentIntentSearchResult);
  }

  /** `GET /v1/refunds?payment_intent=...`, newest first; `startingAfter` pages on (a refund id). */
  listRefunds(paymentIntent: string, startingAfter?: string): Promise<RefundList> {
    const params = new URLSearchParams({ payment_intent: paymentIntent, limit: String(MAX_LIST_LIMIT) });
    if (startingAfter !== undefined) params.set('starting_after', startingAfter);
    return this.call('GET', `/v1/refunds?${params.toString()}`, undefined, undefined, parseRefundList);
  }

  /** `GET /v1/payment_intents/{id}`. */
  retrievePaymentIntent(id: string): Promise<PaymentIntent> {
    const path = `/v1/payment_intents/${encodeURIComponent(id)}`;
    return this.call('GET', path, undefined, undefined, parsePaymentIntent);
  }

  /** Closes pooled sockets if this client created its own agent. */
  close(): void {
    if (this.ownsAgent) this.agent.destroy();
  }

  private call<T>(
    method: 'GET' | 'POST',
    path: string,
    form: [string, FormValue][] | undefined,
    idempotencyKey: string | undefined,
    parse: (value: unknown) => T,
  ): Promise<T> {
    const headers: http.OutgoingHttpHeaders = {
      authorization: this.authorization,
      accept: 'application/json',
    };
    let body: Buffer | undefined;
    if (form !== undefined) {
      const params = new URLSearchParams();
      for (const [k, v] of form) if (v !== undefined) params.append(k, String(v));
      body = Buffer.from(params.toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = body.length;
    }
    if (idempotencyKey !== undefined) {
      if (idempotencyKey === '' || idempotencyKey.length > 255) {
        return Promise.reject(new TypeError('provider idempotency key must be 1 to 255 characters'));
      }
      headers['idempotency-key'] = idempotencyKey;
    }

    return new Promise<T>((resolve, reject) => {
      // Exactly-once hinges on this flag: it turns true only once a socket is connected (or a
      // pooled, already-connected socket is handed to us), because the request bytes are written
      // right then. Before that the provider cannot have seen anything.
      let connected = false;
      let settled = false;
      const settle = (err: ProviderError | undefined, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (err === undefined) resolve(value as T);
        else reject(err);
      };
      const lost = (reason: UnavailableReason, message: string, cause?: unknown): ProviderUnavailableError =>
        new ProviderUnavailableError({ message, requestSent: connected, reason }, { cause });

      const req = this.transport.request({
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port === '' ? undefined : this.base.port,
        path: joinPath(this.base.pathname, path),
        method,
        headers,
        agent: this.agent,
      });

      const deadline = setTimeout(() => {
        settle(
          connected
            ? lost('response_timeout', `provider did not answer ${method} ${path} within ${this.timeoutMs} ms`)
            : lost('connect_timeout', `could not connect to the provider within ${this.timeoutMs} ms`),
        );
        req.destroy();
      }, this.timeoutMs);

      req.on('socket', (socket: Socket) => {
        if (socket.connecting) {
          // TLS writes nothing of the request before the handshake completes.
          socket.once(this.base.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
            connected = true;
          });
        } else if (!socket.destroyed) {
          connected = true; // a pooled socket, already connected
        }
      });

      req.on('error', (cause: NodeJS.ErrnoException) => {
        if (connected) {
          settle(lost('connection_lost', `connection to the provider lost during ${method} ${path}`, cause));
        } else {
          const reason = connectFailureReason(cause.code);
          settle(lost(reason, `could not connect to the provider (${cause.code ?? cause.message})`, cause));
        }
      });

      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            settle(lost('bad_response', `provider answer to ${method} ${path} exceeds ${MAX_RESPONSE_BYTES} bytes`));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const requestId = headerValue(res.headers['request-id']);
          const result = this.interpret(res.statusCode ?? 0, Buffer.concat(chunks), requestId, method, path, parse);
          if (result.ok) settle(undefined, result.value);
          else settle(result.error);
        });
        res.on('error', (cause) => {
          settle(lost('connection_lost', `connection to the provider lost while reading the answer to ${method} ${path}`, cause));
        });
        res.on('close', () => {
          if (!res.complete) {
            settle(lost('connection_lost', `connection to the provider lost while reading the answer to ${method} ${path}`));
          }
        });
      });

      req.end(body);
    });
  }

  private interpret<T>(
    status: number,
    raw: Buffer,
    requestId: string | undefined,
    method: string,
    path: string,
    parse: (value: unknown) => T,
  ): { ok: true; value: T } | { ok: false; error: ProviderError } {
    const what = `${method} ${path}`;
    const unknown = (reason: UnavailableReason, message: string, cause?: unknown) => ({
      ok: false as const,
      error: new ProviderUnavailableError({ message, requestSent: true, reason, httpStatus: status }, { cause }),
    });

    if (status === 401 || status === 403) return { ok: false, error: new ProviderAuthenticationError(status) };
    if (status >= 500) return unknown('server_error', `provider answered ${what} with HTTP ${status}`);
    if (status === 429) return unknown('rate_limited', `provider rate-limited ${what} (HTTP 429)`);
    if (status === 409) {
      const message = `provider is still processing another ${what} with the same idempotency key (HTTP 409)`;
      return unknown('idempotency_in_progress', message);
    }

    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (cause) {
      return unknown('bad_response', `provider answered ${what} with HTTP ${status} and a body that is not JSON`, cause);
    }

    if (status >= 200 && status < 300) {
      try {
        return { ok: true, value: parse(json) };
      } catch (cause) {
        return unknown('bad_response', `provider answer to ${what} has an unexpected shape`, cause);
      }
    }

    const body = parseProviderErrorBody(json);
    if (body === undefined) {
      return unknown('bad_response', `provider answered ${what} with HTTP ${status} without an error object`);
    }
    const message = this.redact(body.message);
    if (status === 402) {
      let paymentIntent: PaymentIntent | undefined;
      try {
        paymentIntent = body.paymentIntent == null ? undefined : parsePaymentIntent(body.paymentIntent);
      } catch {
        paymentIntent = undefined; // the decline itself is definitive; the attached object is a bonus
      }
      return {
        ok: false,
        error: new ProviderCardError({
          message,
          httpStatus: status,
          code: body.code ?? 'card_declined',
          declineCode: body.declineCode,
          paymentIntent,
          requestId,
        }),
      };
    }
    if (status === 400 || status === 404) {
      return {
        ok: false,
        error: new ProviderInvalidRequestError({
          message,
          httpStatus: status,
          type: body.type,
          code: body.code,
          param: body.param,
          requestId,
        }),
      };
    }
    return unknown('bad_response', `provider answered ${what} with unexpected HTTP ${status}`);
  }

  /** Provider messages are untrusted text; make sure our own key never travels on in one. */
  private redact(text: string): string {
    return text.split(this.secretKey).join('[redacted]');
  }
}

function connectFailureReason(code: string | undefined): UnavailableReason {
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') return 'dns_failure';
  return 'connect_failed';
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function joinPath(basePath: string, path: string): string {
  return basePath.endsWith('/') ? basePath.slice(0, -1) + path : basePath + path;
}
