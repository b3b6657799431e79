import { randomBytes, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { PaymentIntent, ProviderRefund } from '../provider/provider-types.js';
import { type DelayFault, FaultInjector, type OutcomeFaultKind } from './fault-injector.js';
import { answerControlRequest } from './simulator-control.js';
import { readBody, send, singleHeader } from './simulator-http.js';
import { canonicalParams, idempotencyRefusal, SimulatorIdempotencyStore } from './simulator-idempotency-store.js';
import { type LedgerResult, SimulatorLedger } from './simulator-ledger.js';
import { type SimulatorResponse, stripeError } from './simulator-response.js';
import { routeProviderRequest } from './simulator-routes.js';
import { newKeyStats, type SimulatorKeyStats, type SimulatorStats } from './simulator-stats.js';

/**
 * Idle keep-alive timeout on the simulator's side. Longer than the client's pooled-socket idle
 * timeout (4 s), so the client always closes an idle connection first; the other way round, a
 * request can be written onto a connection the server is closing, and that is an unknown outcome.
 */
const SERVER_KEEP_ALIVE_TIMEOUT_MS = 30_000;

export interface ProviderSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a random `sk_test_...`. */
  secretKey?: string;
}

/**
 * An in-memory, Stripe-compatible provider over real HTTP (DESIGN §6), with provider-side
 * idempotency and fault injection. Start it with startProviderSimulator.
 *
 * Connections are accepted by a plain net.Server and handed to an http.Server. Keeping the two
 * apart lets pause() close only the listening socket (new connects get ECONNREFUSED) and resume()
 * listen again on the same port, while the HTTP side and its connection bookkeeping stay put.
 */
export class ProviderSimulator {
  readonly host: string;
  readonly secretKey: string;
  readonly faults = new FaultInjector();

  private portNumber = 0;
  private listener: net.Server | undefined;
  private readonly http: http.Server;
  /** Every open connection with the number of requests it is serving. */
  private readonly connections = new Map<net.Socket, number>();
  private readonly ledger = new SimulatorLedger();
  private readonly idempotency = new SimulatorIdempotencyStore();
  private readonly expectedAuthorization: Buffer;
  private readonly shutdown = new AbortController();
  private heldRequests: (() => void)[] = [];
  private heldWaiters: { count: number; resolve: () => void }[] = [];
  private counters = { requests: 0, replays: 0, conflicts: 0, mismatches: 0 };
  private keyStats = new Map<string, SimulatorKeyStats>();

  private constructor(host: string, secretKey: string) {
    this.host = host;
    this.secretKey = secretKey;
    this.expectedAuthorization = Buffer.from(`Bearer ${secretKey}`);
    this.http = http.createServer((req, res) => {
      void this.handle(req, res);
    });
    this.http.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS;
    // Every delayed request listens on the shutdown signal; under benchmark load
    // that is thousands at once, which is expected, not a leak.
    setMaxListeners(0, this.shutdown.signal);
  }

  /** @internal use startProviderSimulator */
  static async start(opts: ProviderSimulatorOptions = {}): Promise<ProviderSimulator> {
    const sim = new ProviderSimulator(opts.host ?? '127.0.0.1', opts.secretKey ?? `sk_test_${randomBytes(24).toString('hex')}`);
    await sim.listen(opts.port ?? 0);
    return sim;
  }

  get port(): number {
    return this.portNumber;
  }

  /** Base URL for ProviderClient, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    const host = net.isIPv6(this.host) ? `[${this.host}]` : this.host;
    return `http://${host}:${this.portNumber}`;
  }

  stats(opts: { groupBy?: string } = {}): SimulatorStats {
    const stats: SimulatorStats = {
      requests: this.counters.requests,
      paymentIntentsCreated: this.ledger.paymentIntentCount,
      refundsCreated: this.ledger.refundCount,
      idempotentReplays: this.counters.replays,
      idempotencyConflicts: this.counters.conflicts,
      idempotencyMismatches: this.counters.mismatches,
      faultsInjected: this.faults.injected,
      held: this.heldRequests.length,
      byIdempotencyKey: Object.fromEntries([...this.keyStats].map(([key, s]) => [key, { ...s }])),
    };
    if (opts.groupBy !== undefined) {
      stats.paymentIntentsGroupedBy = { metadataKey: opts.groupBy, counts: this.ledger.countByMetadata(opts.groupBy) };
    }
    return stats;
  }

  /** Every PaymentIntent created (declined ones included), in creation order, as copies. */
  paymentIntents(): PaymentIntent[] {
    return this.ledger.paymentIntents();
  }

  refunds(): ProviderRefund[] {
    return this.ledger.refunds();
  }

  /** How many PaymentIntents were created by requests carrying this provider idempotency key. */
  paymentsForKey(idempotencyKey: string): number {
    return this.ledger.paymentIntentsCreatedWithKey(idempotencyKey);
  }

  /** Resolves once at least `count` requests wait on a `hold` fault. */
  whenHeld(count = 1): Promise<void> {
    if (this.heldRequests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.heldWaiters.push({ count, resolve }));
  }

  /** Lets every request waiting on a `hold` fault go on; returns how many there were. */
  releaseHeld(): number {
    const held = this.heldRequests;
    this.heldRequests = [];
    for (const release of held) release();
    return held.length;
  }

  /**
   * Stops accepting connections: the listening socket is closed, so connects get ECONNREFUSED.
   * Idle keep-alive connections are closed too, otherwise a pooled client socket would still reach
   * the simulator. Resolves once the peer has acknowledged each of those closes, which means a
   * client has dropped the socket from its pool before the caller's next request. Connections
   * serving a request (held, hanging) finish it and are closed then.
   */
  async pause(): Promise<void> {
    const listener = this.listener;
    if (listener === undefined) return;
    this.listener = undefined;
    listener.close(); // closes the listening descriptor synchronously; the callback waits for connections
    const closing: Promise<void>[] = [];
    for (const [socket, active] of this.connections) {
      if (active > 0 || socket.destroyed) continue;
      closing.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.end();
    }
    await Promise.all(closing);
  }

  /** Listens again on the same port after pause(). */
  async resume(): Promise<void> {
    if (this.listener !== undefined) return;
    await this.listen(this.portNumber);
  }

  /**
   * Forgets every stored idempotency key and nothing else, as a provider does once its
   * idempotency window has passed (Stripe: about 24 hours): a request re-sent with an old key is
   * then processed as new.
   */
  forgetIdempotencyKeys(): void {
    this.idempotency.clear();
  }

  /** Forgets all state: PaymentIntents, refunds, idempotency keys, faults and counters. */
  reset(): void {
    this.ledger.reset();
    this.idempotency.clear();
    this.faults.reset();
    this.counters = { requests: 0, replays: 0, conflicts: 0, mismatches: 0 };
    this.keyStats = new Map();
  }

  /** Stops listening and destroys every connection, keep-alive and hanging ones included. */
  async close(): Promise<void> {
    this.shutdown.abort();
    this.releaseHeld();
    const listener = this.listener;
    this.listener = undefined;
    const listenerClosed = new Promise<void>((resolve) => {
      if (listener === undefined) resolve();
      else listener.close(() => resolve());
    });
    const socketsClosed = [...this.connections.keys()].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) resolve();
          else socket.once('close', () => resolve()).destroy();
        }),
    );
    // Never listening itself, the HTTP server only needs close() to stop its timers.
    this.http.close(() => undefined);
    await Promise.all([listenerClosed, ...socketsClosed]);
  }

  private listen(port: number): Promise<void> {
    const listener = net.createServer({ noDelay: true }, (socket) => {
      this.connections.set(socket, 0);
      socket.once('close', () => this.connections.delete(socket));
      this.http.emit('connection', socket);
    });
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port, host: this.host }, () => {
        listener.off('error', reject);
        const address = listener.address();
        if (address === null || typeof address === 'string') {
          reject(new Error('simulator is not listening on a TCP port'));
          return;
        }
        this.portNumber = address.port;
        this.listener = listener;
        resolve();
      });
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket;
    this.connections.set(socket, (this.connections.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const active = this.connections.get(socket);
      if (active === undefined) return;
      this.connections.set(socket, active - 1);
      // Paused: a connection that was busy when pause() ran must not stay pooled by the client.
      if (active === 1 && this.listener === undefined && !socket.destroyed) socket.end();
    });
    try {
      await this.route(req, res);
    } catch {
      // Aborted by close(), or a bug: answer like Stripe does when it fails, without details.
      if (!res.headersSent && !res.destroyed) {
        send(res, stripeError(500, { type: 'api_error', message: 'An unknown error occurred.' }));
      }
    }
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const isControl = path.startsWith('/_sim/');
    if (!isControl) this.counters.requests += 1;

    if (body === undefined) {
      send(res, stripeError(413, { type: 'invalid_request_error', message: 'Request body too large.' }));
      return;
    }
    if (!this.authorized(req.headers.authorization)) {
      // Never echo what was sent: it may be a real key.
      send(res, stripeError(401, { type: 'invalid_request_error', message: 'Invalid API Key provided' }));
      return;
    }
    if (isControl) {
      send(res, answerControlRequest(this, method, path, url.searchParams, body));
      return;
    }

    const faults = this.faults.take(method, path);
    if (faults.outcome === 'http500') {
      await this.wait(faults.delay);
      send(res, stripeError(500, { type: 'api_error', message: 'An unknown error occurred while processing your request.' }));
      return;
    }

    // Reads take their parameters from the query string, as Stripe's GET endpoints do.
    const params = method === 'GET' ? url.searchParams : new URLSearchParams(body.toString('utf8'));
    const key = method === 'POST' ? singleHeader(req.headers['idempotency-key']) : undefined;
    if (key === undefined) {
      await this.wait(faults.delay);
      this.respond(res, routeProviderRequest(this.ledger, method, path, params, undefined, undefined), faults.outcome, undefined, false);
      return;
    }

    const stats = this.statsForKey(key);
    stats.requests += 1;
    const endpoint = `${method} ${path}`;
    // Atomic: claim() checks and inserts in one synchronous call, with no await in between.
    const claim = this.idempotency.claim(key, endpoint, canonicalParams(params));
    switch (claim.kind) {
      case 'claimed': {
        let response: LedgerResult;
        try {
          await this.wait(faults.delay);
          response = routeProviderRequest(this.ledger, method, path, params, key, stats);
        } catch (err) {
          this.idempotency.release(key);
          throw err;
        }
        stats.processed += 1;
        if (response.replayable) this.idempotency.complete(key, response);
        else this.idempotency.release(key);
        this.respond(res, response, faults.outcome, key, false);
        return;
      }
      case 'replay':
        stats.replays += 1;
        this.counters.replays += 1;
        await this.wait(faults.delay);
        this.respond(res, claim.response, faults.outcome, key, true);
        return;
      case 'in_progress':
        stats.conflicts += 1;
        this.counters.conflicts += 1;
        await this.wait(faults.delay);
        this.respond(res, idempotencyRefusal(claim, key, endpoint), faults.outcome, key, false);
        return;
      case 'other_endpoint':
      case 'other_params':
        stats.mismatches += 1;
        this.counters.mismatches += 1;
        await this.wait(faults.delay);
        this.respond(res, idempotencyRefusal(claim, key, endpoint), faults.outcome, key, false);
        return;
    }
  }

  private respond(
    res: http.ServerResponse,
    response: SimulatorResponse,
    outcome: OutcomeFaultKind | undefined,
    key: string | undefined,
    replayed: boolean,
  ): void {
    if (outcome === 'chargeThenDrop') {
      res.socket?.destroy();
      return;
    }
    if (outcome === 'hang') return; // the client's timeout ends it, or close()
    const headers: http.OutgoingHttpHeaders = {};
    if (key !== undefined) headers['idempotency-key'] = key;
    if (replayed) headers['idempotent-replayed'] = 'true';
    send(res, response, headers);
  }

  private async wait(fault: DelayFault | undefined): Promise<void> {
    if (fault === undefined) return;
    this.shutdown.signal.throwIfAborted();
    if (fault.kind === 'latency') {
      await delay(fault.ms, undefined, { signal: this.shutdown.signal });
      return;
    }
    await new Promise<void>((resolve) => {
      this.heldRequests.push(resolve);
      const ready = this.heldWaiters.filter((w) => this.heldRequests.length >= w.count);
      this.heldWaiters = this.heldWaiters.filter((w) => this.heldRequests.length < w.count);
      for (const w of ready) w.resolve();
    });
    this.shutdown.signal.throwIfAborted();
  }

  private authorized(header: string | undefined): boolean {
    if (header === undefined) return false;
    const given = Buffer.from(header);
    return given.length === this.expectedAuthorization.length && timingSafeEqual(given, this.expectedAuthorization);
  }

  private statsForKey(key: string): SimulatorKeyStats {
    let stats = this.keyStats.get(key);
    if (stats === undefined) {
      stats = newKeyStats();
      this.keyStats.set(key, stats);
    }
    return stats;
  }
}

/** Starts a simulator listening on `host:port` (127.0.0.1 and a free port by default). */
export function startProviderSimulator(opts?: ProviderSimulatorOptions): Promise<ProviderSimulator> {
  return ProviderSimulator.start(opts);
}
