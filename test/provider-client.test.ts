// Over 400 lines but one idea: ProviderClient against a real simulator and misbehaving servers, sharing their setup.

import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import { ProviderClient } from '../src/provider/provider-client.js';
import {
  isOutcomeUnknown,
  ProviderAuthenticationError,
  ProviderCardError,
  ProviderInvalidRequestError,
  ProviderUnavailableError,
  type UnavailableReason,
} from '../src/provider/provider-error.js';
import type { CreatePaymentIntentParams } from '../src/provider/provider-types.js';
import { type ProviderSimulator, startProviderSimulator } from '../src/simulator/simulator.js';

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function expectUnavailable(err: unknown, requestSent: boolean, reason: UnavailableReason): ProviderUnavailableError {
  expect(err).to.be.instanceOf(ProviderUnavailableError);
  const e = err as ProviderUnavailableError;
  expect(e.reason, e.message).to.equal(reason);
  expect(e.requestSent).to.equal(requestSent);
  expect(e.outcome).to.equal(requestSent ? 'unknown' : 'no_side_effect');
  expect(isOutcomeUnknown(e)).to.equal(requestSent);
  return e;
}

const visa: CreatePaymentIntentParams = {
  amount: 2_000,
  currency: 'usd',
  paymentMethod: 'pm_card_visa',
  captureMethod: 'automatic',
};

/** A bare TCP or HTTP server on 127.0.0.1:0 that misbehaves in one precise way. */
async function listenOnFreePort(server: net.Server): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('ProviderClient', () => {
  let sim: ProviderSimulator;
  let client: ProviderClient;
  let keySeq = 0;
  const newKey = (): string => `test-key-${++keySeq}`;

  before(async () => {
    sim = await startProviderSimulator();
    client = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey });
  });

  afterEach(() => {
    sim.reset();
  });

  after(async () => {
    client.close();
    await sim.close();
  });

  describe('payments', () => {
    it('creates and confirms a PaymentIntent that succeeds with a test card', async () => {
      const pi = await client.createPaymentIntent(
        { ...visa, customer: 'cus_123', description: 'order 42', metadata: { order_id: 'o-42', 'weird key': 'a&b=c' } },
        newKey(),
      );
      expect(pi.id).to.match(/^pi_/);
      expect(pi.status).to.equal('succeeded');
      expect(pi.amount).to.equal(2_000);
      expect(pi.amount_received).to.equal(2_000);
      expect(pi.amount_capturable).to.equal(0);
      expect(pi.currency).to.equal('usd');
      expect(pi.capture_method).to.equal('automatic');
      expect(pi.customer).to.equal('cus_123');
      expect(pi.description).to.equal('order 42');
      expect(pi.metadata).to.deep.equal({ order_id: 'o-42', 'weird key': 'a&b=c' });
      expect(pi.created).to.be.closeTo(Math.floor(Date.now() / 1000), 5);
      expect(sim.paymentIntents()).to.have.length(1);
    });

    const declines: [string, string, string][] = [
      ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
      ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
      ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
      ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
      ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'processing_error'],
    ];
    for (const [paymentMethod, code, declineCode] of declines) {
      it(`rejects ${paymentMethod} with a definitive card error (${code}/${declineCode}) carrying the declined PaymentIntent`, async () => {
        const err = await rejectionOf(client.createPaymentIntent({ ...visa, paymentMethod }, newKey()));
        expect(err).to.be.instanceOf(ProviderCardError);
        const e = err as ProviderCardError;
        expect(e.httpStatus).to.equal(402);
        expect(e.code).to.equal(code);
        expect(e.declineCode).to.equal(declineCode);
        expect(e.message).to.be.a('string').and.not.equal('');
        expect(e.outcome).to.equal('definitive');
        expect(isOutcomeUnknown(e)).to.equal(false);
        expect(e.paymentIntent?.status).to.equal('requires_payment_method');
        expect(e.paymentIntent?.amount_received).to.equal(0);
        expect(e.paymentIntent?.last_payment_error).to.include({ code, decline_code: declineCode });
        expect(sim.paymentIntents().map((pi) => pi.id)).to.deep.equal([e.paymentIntent?.id]);
      });
    }

    it('rejects an unknown payment method as a definitive invalid request naming the parameter', async () => {
      const err = await rejectionOf(client.createPaymentIntent({ ...visa, paymentMethod: 'pm_card_nonexistent' }, newKey()));
      expect(err).to.be.instanceOf(ProviderInvalidRequestError);
      const e = err as ProviderInvalidRequestError;
      expect(e).to.include({ httpStatus: 400, type: 'invalid_request_error', code: 'resource_missing', param: 'payment_method', outcome: 'definitive' });
      expect(sim.paymentIntents()).to.have.length(0);
    });

    it('authorizes with manual capture, then captures part of the amount', async () => {
      const authorized = await client.createPaymentIntent({ ...visa, captureMethod: 'manual' }, newKey());
      expect(authorized).to.include({ status: 'requires_capture', amount_capturable: 2_000, amount_received: 0 });

      const captured = await client.capturePaymentIntent(authorized.id, 1_500, newKey());
      expect(captured).to.include({ id: authorized.id, status: 'succeeded', amount_received: 1_500, amount_capturable: 0 });
    });

    it('captures the whole authorized amount when no amount is given', async () => {
      const authorized = await client.createPaymentIntent({ ...visa, captureMethod: 'manual' }, newKey());
      const captured = await client.capturePaymentIntent(authorized.id, undefined, newKey());
      expect(captured).to.include({ status: 'succeeded', amount_received: 2_000 });
    });

    it('refuses to capture more than was authorized', async () => {
      const authorized = await client.createPaymentIntent({ ...visa, captureMethod: 'manual' }, newKey());
      const err = await rejectionOf(client.capturePaymentIntent(authorized.id, 2_001, newKey()));
      expect(err).to.be.instanceOf(ProviderInvalidRequestError);
      expect(err).to.include({ httpStatus: 400, code: 'amount_too_large', param: 'amount_to_capture' });
      expect((await client.retrievePaymentIntent(authorized.id)).status).to.equal('requires_capture');
    });

    it('cancels an authorization, and refuses to cancel a PaymentIntent that already succeeded', async () => {
      const authorized = await client.createPaymentIntent({ ...visa, captureMethod: 'manual' }, newKey());
      const canceled = await client.cancelPaymentIntent(authorized.id, newKey());
      expect(canceled).to.include({ status: 'canceled', amount_capturable: 0 });

      const succeeded = await client.createPaymentIntent(visa, newKey());
      const err = await rejectionOf(client.cancelPaymentIntent(succeeded.id, newKey()));
      expect(err).to.be.instanceOf(ProviderInvalidRequestError);
      expect(err).to.include({ httpStatus: 400, code: 'payment_intent_unexpected_state' });
    });

    it('refunds in parts and refuses a refund larger than what is left', async () => {
      const pi = await client.createPaymentIntent(visa, newKey());
      const first = await client.createRefund({ paymentIntent: pi.id, amount: 500 }, newKey());
      expect(first).to.include({ object: 'refund', amount: 500, payment_intent: pi.id, status: 'succeeded', currency: 'usd' });
      expect(first.id).to.match(/^re_/);

      const tooMuch = await rejectionOf(client.createRefund({ paymentIntent: pi.id, amount: 1_501 }, newKey()));
      expect(tooMuch).to.be.instanceOf(ProviderInvalidRequestError);
      expect(tooMuch).to.include({ httpStatus: 400, code: 'amount_too_large', outcome: 'definitive' });

      const rest = await client.createRefund({ paymentIntent: pi.id }, newKey());
      expect(rest.amount).to.equal(1_500);

      const again = await rejectionOf(client.createRefund({ paymentIntent: pi.id, amount: 1 }, newKey()));
      expect(again).to.include({ code: 'charge_already_refunded' });
    });

    it('retrieves a PaymentIntent and reports an unknown id as a definitive 404', async () => {
      const pi = await client.createPaymentIntent(visa, newKey());
      expect(await client.retrievePaymentIntent(pi.id)).to.deep.equal(pi);

      const err = await rejectionOf(client.retrievePaymentIntent('pi_does_not_exist'));
      expect(err).to.be.instanceOf(ProviderInvalidRequestError);
      expect(err).to.include({ httpStatus: 404, code: 'resource_missing', outcome: 'definitive' });

      const capture = await rejectionOf(client.capturePaymentIntent('pi_does_not_exist', undefined, newKey()));
      expect(capture).to.include({ httpStatus: 404, code: 'resource_missing' });
    });
  });

  describe('provider idempotency', () => {
    it('returns the original PaymentIntent when the same key is sent again, creating it once', async () => {
      const key = newKey();
      const first = await client.createPaymentIntent(visa, key);
      const second = await client.createPaymentIntent(visa, key);
      expect(second).to.deep.equal(first);
      expect(sim.paymentsForKey(key)).to.equal(1);
      expect(sim.stats().idempotentReplays).to.equal(1);
    });

    it('replays a decline for the same key instead of charging again', async () => {
      const key = newKey();
      const first = (await rejectionOf(client.createPaymentIntent({ ...visa, paymentMethod: 'pm_card_chargeDeclined' }, key))) as ProviderCardError;
      const second = (await rejectionOf(client.createPaymentIntent({ ...visa, paymentMethod: 'pm_card_chargeDeclined' }, key))) as ProviderCardError;
      expect(second).to.be.instanceOf(ProviderCardError);
      expect(second.paymentIntent?.id).to.equal(first.paymentIntent?.id);
      expect(sim.paymentIntents()).to.have.length(1);
    });

    it('rejects a key reused with different parameters as a definitive idempotency_error', async () => {
      const key = newKey();
      await client.createPaymentIntent(visa, key);
      const err = await rejectionOf(client.createPaymentIntent({ ...visa, amount: 2_001 }, key));
      expect(err).to.be.instanceOf(ProviderInvalidRequestError);
      expect(err).to.include({ httpStatus: 400, type: 'idempotency_error', outcome: 'definitive' });
      expect(sim.paymentIntents()).to.have.length(1);
    });

    it('creates exactly one PaymentIntent when many requests race with one key', async () => {
      const key = newKey();
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => client.createPaymentIntent(visa, key)));
      const ids = new Set<string>();
      for (const r of results) {
        if (r.status === 'fulfilled') ids.add(r.value.id);
        else expectUnavailable(r.reason, true, 'idempotency_in_progress');
      }
      expect(ids.size).to.equal(1);
      expect(sim.paymentIntents()).to.have.length(1);
      expect(sim.paymentsForKey(key)).to.equal(1);
    });

    it('answers a request whose key is still being processed with an unknown outcome, then replays the result', async () => {
      const key = newKey();
      sim.faults.add({ kind: 'hold' });
      const leader = client.createPaymentIntent(visa, key);
      await sim.whenHeld(1);

      expectUnavailable(await rejectionOf(client.createPaymentIntent(visa, key)), true, 'idempotency_in_progress');

      sim.releaseHeld();
      const original = await leader;
      expect(await client.createPaymentIntent(visa, key)).to.deep.equal(original);
      expect(sim.paymentIntents()).to.have.length(1);
    });
  });

  describe('authentication', () => {
    it('reports a rejected secret key without ever revealing it', async () => {
      const wrongKey = 'sk_test_this_key_must_never_appear_anywhere_0123456789';
      const bad = new ProviderClient({ baseUrl: sim.url, secretKey: wrongKey });
      try {
        const err = await rejectionOf(bad.createPaymentIntent(visa, newKey()));
        expect(err).to.be.instanceOf(ProviderAuthenticationError);
        const e = err as ProviderAuthenticationError;
        expect(e.httpStatus).to.equal(401);
        expect(e.outcome).to.equal('no_side_effect');
        expect(isOutcomeUnknown(e)).to.equal(false);
        const everything = [e.message, String(e), e.stack ?? '', JSON.stringify(e)].join('\n');
        expect(everything).not.to.include(wrongKey);
        expect(everything).not.to.include(sim.secretKey);
        expect(sim.paymentIntents()).to.have.length(0);
      } finally {
        bad.close();
      }
    });

    it('sends the secret as a bearer token with the idempotency key and a form body', async () => {
      let received = '';
      let gotBody: () => void = () => undefined;
      const bodyArrived = new Promise<void>((resolve) => (gotBody = resolve));
      const recorder = await listenOnFreePort(
        net.createServer((socket) => {
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString();
            if (received.includes('metadata%5Border_id%5D=o-1')) gotBody();
          });
        }),
      );
      const recorded = new ProviderClient({ baseUrl: recorder.url, secretKey: 'sk_test_abc' });
      const pending = recorded.createPaymentIntent({ ...visa, metadata: { order_id: 'o-1' } }, 'key-1').catch(() => undefined);
      try {
        await bodyArrived;
      } finally {
        recorded.close();
        await recorder.close();
        await pending;
      }
      const lower = received.toLowerCase();
      expect(received).to.match(/^POST \/v1\/payment_intents HTTP\/1\.1\r\n/);
      expect(lower).to.include('authorization: bearer sk_test_abc\r\n');
      expect(lower).to.include('idempotency-key: key-1\r\n');
      expect(lower).to.include('content-type: application/x-www-form-urlencoded\r\n');
      expect(received).to.include('confirm=true');
      expect(received).to.include('capture_method=automatic');
    });

    it('redacts its own secret key from provider error messages', async () => {
      const secretKey = 'sk_test_echoed_back_by_a_careless_provider';
      const server = http.createServer((req, res) => {
        req.resume();
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: `Bad key ${secretKey} used` } }));
      });
      const s = await listenOnFreePort(server);
      const echoing = new ProviderClient({ baseUrl: s.url, secretKey });
      try {
        const err = await rejectionOf(echoing.retrievePaymentIntent('pi_1'));
        expect(err).to.be.instanceOf(ProviderInvalidRequestError);
        expect((err as Error).message).to.equal('Bad key [redacted] used');
      } finally {
        echoing.close();
        await s.close();
      }
    });
  });

  describe('classifying failures for exactly-once', () => {
    it('reports a refused connection as never sent', async () => {
      await client.createPaymentIntent(visa, newKey()); // leaves a pooled keep-alive socket behind
      await sim.pause();
      try {
        const err = expectUnavailable(await rejectionOf(client.createPaymentIntent(visa, newKey())), false, 'connection_refused');
        expect(err.cause).to.include({ code: 'ECONNREFUSED' });
      } finally {
        await sim.resume();
      }
      expect(sim.paymentIntents()).to.have.length(1);
      expect((await client.createPaymentIntent(visa, newKey())).status).to.equal('succeeded');
    });

    it('reports a host name that does not resolve as never sent', async () => {
      const agent = new http.Agent({
        lookup: (_hostname, _options, callback) => {
          process.nextTick(() => callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), '', 4));
        },
      });
      const unresolvable = new ProviderClient({ baseUrl: 'http://provider.invalid', secretKey: 'sk_test_x', agent });
      try {
        expectUnavailable(await rejectionOf(unresolvable.createPaymentIntent(visa, newKey())), false, 'dns_failure');
      } finally {
        agent.destroy();
      }
    });

    it('reports a deadline that passes before the socket connected as never sent', async () => {
      // A resolver that never answers keeps the socket in its connecting state.
      const agent = new http.Agent({ lookup: () => undefined });
      const stuck = new ProviderClient({ baseUrl: 'http://provider.test', secretKey: 'sk_test_x', timeoutMs: 100, agent });
      try {
        expectUnavailable(await rejectionOf(stuck.createPaymentIntent(visa, newKey())), false, 'connect_timeout');
      } finally {
        agent.destroy();
      }
    });

    it('reports a deadline that passes after the request was written as an unknown outcome', async () => {
      let received = '';
      let gotBody: () => void = () => undefined;
      const bodyArrived = new Promise<void>((resolve) => (gotBody = resolve));
      const silent = await listenOnFreePort(
        net.createServer((socket) => {
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString();
            if (received.includes('payment_method=pm_card_visa')) gotBody();
          });
        }),
      );
      const patient = new ProviderClient({ baseUrl: silent.url, secretKey: 'sk_test_x', timeoutMs: 150 });
      try {
        expectUnavailable(await rejectionOf(patient.createPaymentIntent(visa, newKey())), true, 'response_timeout');
        await bodyArrived; // the request really did reach the server
      } finally {
        patient.close();
        await silent.close();
      }
    });

    it('reports a connection destroyed after the body was read as an unknown outcome', async () => {
      const rude = await listenOnFreePort(
        http.createServer((req) => {
          req.resume();
          req.on('end', () => req.socket.destroy());
        }),
      );
      const victim = new ProviderClient({ baseUrl: rude.url, secretKey: 'sk_test_x' });
      try {
        const err = expectUnavailable(await rejectionOf(victim.createPaymentIntent(visa, newKey())), true, 'connection_lost');
        expect(err.cause).to.include({ code: 'ECONNRESET' });
      } finally {
        victim.close();
        await rude.close();
      }
    });

    it('reports an answer that is not JSON, or not a PaymentIntent, as an unknown outcome', async () => {
      const bodies = ['<html>ok</html>', JSON.stringify({ id: 'pi_1', status: 'succeeded' })];
      const garbled = await listenOnFreePort(
        http.createServer((req, res) => {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(bodies.shift());
        }),
      );
      const confused = new ProviderClient({ baseUrl: garbled.url, secretKey: 'sk_test_x' });
      try {
        expectUnavailable(await rejectionOf(confused.createPaymentIntent(visa, newKey())), true, 'bad_response');
        expectUnavailable(await rejectionOf(confused.createPaymentIntent(visa, newKey())), true, 'bad_response');
      } finally {
        confused.close();
        await garbled.close();
      }
    });

    it('reports an HTTP 500 as an unknown outcome; the simulator did not process it, so a retry charges once', async () => {
      const key = newKey();
      sim.faults.add({ kind: 'http500' });
      const err = expectUnavailable(await rejectionOf(client.createPaymentIntent(visa, key)), true, 'server_error');
      expect(err.httpStatus).to.equal(500);
      expect(sim.paymentIntents()).to.have.length(0);

      const pi = await client.createPaymentIntent(visa, key);
      expect(pi.status).to.equal('succeeded');
      expect(sim.paymentsForKey(key)).to.equal(1);
    });

    it('reports a response dropped after the charge as an unknown outcome, and a retry with the same key returns the original', async () => {
      const key = newKey();
      sim.faults.add({ kind: 'chargeThenDrop' });
      expectUnavailable(await rejectionOf(client.createPaymentIntent(visa, key)), true, 'connection_lost');
      const [charged] = sim.paymentIntents();
      expect(charged?.status).to.equal('succeeded');

      const retried = await client.createPaymentIntent(visa, key);
      expect(retried.id).to.equal(charged?.id);
      expect(sim.paymentIntents()).to.have.length(1);
      expect(sim.paymentsForKey(key)).to.equal(1);
      expect(sim.stats().idempotentReplays).to.equal(1);
    });

    it('reports a provider that charged but never answered as an unknown outcome, and a retry returns the original', async () => {
      const key = newKey();
      sim.faults.add({ kind: 'hang' });
      const impatient = new ProviderClient({ baseUrl: sim.url, secretKey: sim.secretKey, timeoutMs: 150 });
      try {
        expectUnavailable(await rejectionOf(impatient.createPaymentIntent(visa, key)), true, 'response_timeout');
      } finally {
        impatient.close();
      }
      const retried = await client.createPaymentIntent(visa, key);
      expect(sim.paymentIntents().map((pi) => pi.id)).to.deep.equal([retried.id]);
      expect(sim.paymentsForKey(key)).to.equal(1);
    });

    it('treats any error that is not a provider error as an unknown outcome', () => {
      expect(isOutcomeUnknown(new Error('boom'))).to.equal(true);
      expect(isOutcomeUnknown('nope')).to.equal(true);
    });
  });
});
