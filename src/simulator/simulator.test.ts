// Over 400 lines but one idea: the simulator's wire behaviour over raw HTTP, sharing one simulator and request helper.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { type ProviderSimulator, startProviderSimulator } from './simulator.js';
import type { SimulatorStats } from './simulator-stats.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: unknown;
}

interface RequestOptions {
  form?: string | Record<string, string>;
  json?: unknown;
  key?: string;
  /** null: send no Authorization header. Default: the simulator's key. */
  authorization?: string | null;
  agent?: http.Agent;
}

/** Raw HTTP against the simulator, so its wire behaviour is tested apart from ProviderClient. */
function call(sim: ProviderSimulator, method: string, urlPath: string, opts: RequestOptions = {}): Promise<Answer> {
  const headers: http.OutgoingHttpHeaders = {};
  if (opts.authorization !== null) headers['authorization'] = opts.authorization ?? `Bearer ${sim.secretKey}`;
  if (opts.key !== undefined) headers['idempotency-key'] = opts.key;
  let body: string | undefined;
  if (opts.form !== undefined) {
    body = typeof opts.form === 'string' ? opts.form : new URLSearchParams(opts.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}${urlPath}`, { method, headers, agent: opts.agent ?? false }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (raw += chunk));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(raw);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const visaForm = { amount: '1000', currency: 'usd', payment_method: 'pm_card_visa', confirm: 'true', capture_method: 'automatic' };

function errorOf(answer: Answer): Record<string, unknown> {
  return (answer.json as { error: Record<string, unknown> }).error;
}

describe('provider simulator', () => {
  let sim: ProviderSimulator;

  before(async () => {
    sim = await startProviderSimulator();
  });

  afterEach(() => {
    sim.releaseHeld();
    sim.reset();
  });

  after(async () => {
    await sim.close();
  });

  describe('API', () => {
    it('listens on a free loopback port with a random test secret key', () => {
      expect(sim.port).to.be.greaterThan(0);
      expect(sim.url).to.equal(`http://127.0.0.1:${sim.port}`);
      expect(sim.secretKey).to.match(/^sk_test_[0-9a-f]{48}$/);
    });

    it("rejects a missing or wrong API key with Stripe's 401 error and never echoes the key", async () => {
      const wrong = 'sk_test_wrong_key_that_must_not_be_echoed';
      for (const authorization of [null, `Bearer ${wrong}`, `Basic ${sim.secretKey}`]) {
        const answer = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'k', authorization });
        expect(answer.status).to.equal(401);
        expect(answer.json).to.deep.equal({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
        expect(answer.raw).not.to.include(wrong);
        expect(answer.raw).not.to.include(sim.secretKey);
      }
      expect(sim.paymentIntents()).to.have.length(0);
    });

    it('creates a PaymentIntent with its metadata and lists it for accounting', async () => {
      const answer = await call(sim, 'POST', '/v1/payment_intents', {
        form: { ...visaForm, 'metadata[order_id]': 'o-1', 'metadata[note]': 'x' },
        key: 'k-meta',
      });
      expect(answer.status).to.equal(200);
      expect(answer.headers['request-id']).to.match(/^req_/);
      expect(answer.headers['idempotent-replayed']).to.equal(undefined);
      const [listed] = sim.paymentIntents();
      expect(listed).to.deep.equal(answer.json);
      expect(listed?.metadata).to.deep.equal({ order_id: 'o-1', note: 'x' });

      const overHttp = await call(sim, 'GET', '/_sim/payment_intents');
      expect(overHttp.json).to.deep.equal({ data: [listed] });
    });

    it('rejects unknown parameters, missing ones and unrecognized URLs', async () => {
      const unknownParam = await call(sim, 'POST', '/v1/payment_intents', { form: { ...visaForm, colour: 'red' } });
      expect(unknownParam.status).to.equal(400);
      expect(errorOf(unknownParam)).to.include({ code: 'parameter_unknown', param: 'colour' });

      const { amount: _amount, ...noAmount } = visaForm;
      const missing = await call(sim, 'POST', '/v1/payment_intents', { form: noAmount });
      expect(errorOf(missing)).to.include({ code: 'parameter_missing', param: 'amount' });

      const nowhere = await call(sim, 'POST', '/v1/charges', { form: {} });
      expect(nowhere.status).to.equal(404);
      expect(errorOf(nowhere)).to.include({ type: 'invalid_request_error' });
    });

    it('cancels a declined PaymentIntent, as Stripe allows', async () => {
      const declined = await call(sim, 'POST', '/v1/payment_intents', { form: { ...visaForm, payment_method: 'pm_card_chargeDeclined' } });
      expect(declined.status).to.equal(402);
      const intent = errorOf(declined)['payment_intent'] as { id: string };
      const canceled = await call(sim, 'POST', `/v1/payment_intents/${intent.id}/cancel`, { form: {} });
      expect(canceled.json).to.include({ status: 'canceled' });
    });
  });

  describe('provider idempotency', () => {
    it('replays the original status and body byte for byte, marked Idempotent-Replayed', async () => {
      for (const paymentMethod of ['pm_card_visa', 'pm_card_chargeDeclinedInsufficientFunds']) {
        const key = `replay-${paymentMethod}`;
        const form = { ...visaForm, payment_method: paymentMethod };
        const first = await call(sim, 'POST', '/v1/payment_intents', { form, key });
        const second = await call(sim, 'POST', '/v1/payment_intents', { form, key });
        expect(second.status).to.equal(first.status);
        expect(second.raw).to.equal(first.raw);
        expect(second.headers['idempotent-replayed']).to.equal('true');
        expect(second.headers['idempotency-key']).to.equal(key);
        expect(sim.paymentsForKey(key)).to.equal(1);
      }
      expect(sim.paymentIntents()).to.have.length(2);
    });

    it('treats the same parameters in another order as the same request', async () => {
      const first = await call(sim, 'POST', '/v1/payment_intents', { form: 'amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true', key: 'order' });
      const second = await call(sim, 'POST', '/v1/payment_intents', {
        form: 'confirm=true&payment_method=pm_card_visa&currency=usd&amount=1000',
        key: 'order',
      });
      expect(second.raw).to.equal(first.raw);
      expect(second.headers['idempotent-replayed']).to.equal('true');
    });

    it('refuses a key reused with other parameters or on another endpoint with 400 idempotency_error', async () => {
      await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'reused' });
      const otherParams = await call(sim, 'POST', '/v1/payment_intents', { form: { ...visaForm, amount: '1001' }, key: 'reused' });
      expect(otherParams.status).to.equal(400);
      expect(errorOf(otherParams)['type']).to.equal('idempotency_error');
      expect(errorOf(otherParams)['message']).to.match(/^Keys for idempotent requests can only be used with the same parameters they were first used with/);

      const otherEndpoint = await call(sim, 'POST', '/v1/refunds', { form: { payment_intent: 'pi_x' }, key: 'reused' });
      expect(otherEndpoint.status).to.equal(400);
      expect(errorOf(otherEndpoint)['type']).to.equal('idempotency_error');
      expect(sim.paymentIntents()).to.have.length(1);
      expect(sim.stats().idempotencyMismatches).to.equal(2);
    });

    it('answers 409 idempotency_error while the first request with the key is still processing', async () => {
      sim.faults.add({ kind: 'hold' });
      const leader = call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'busy' });
      await sim.whenHeld(1);

      const follower = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'busy' });
      expect(follower.status).to.equal(409);
      expect(errorOf(follower)['type']).to.equal('idempotency_error');
      expect(errorOf(follower)['message']).to.include('another in-progress request');

      expect(sim.releaseHeld()).to.equal(1);
      expect((await leader).status).to.equal(200);
      expect(sim.paymentIntents()).to.have.length(1);
      expect(sim.stats().byIdempotencyKey['busy']).to.deep.equal({
        requests: 2,
        processed: 1,
        replays: 0,
        conflicts: 1,
        mismatches: 0,
        paymentIntentsCreated: 1,
      });
    });

    it('stores no result for a request that failed validation, so the key can be used again', async () => {
      const { currency: _currency, ...noCurrency } = visaForm;
      const invalid = await call(sim, 'POST', '/v1/payment_intents', { form: noCurrency, key: 'fixable' });
      expect(invalid.status).to.equal(400);
      const fixed = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'fixable' });
      expect(fixed.status).to.equal(200);
      expect(fixed.headers['idempotent-replayed']).to.equal(undefined);
    });

    it('ignores the key on reads', async () => {
      const created = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'read' });
      const id = (created.json as { id: string }).id;
      const read = await call(sim, 'GET', `/v1/payment_intents/${id}`, { key: 'read' });
      expect(read.status).to.equal(200);
      expect(read.headers['idempotent-replayed']).to.equal(undefined);
    });
  });

  describe('fault injection', () => {
    it('answers an injected 500 without processing, then processes the next request', async () => {
      const added = await call(sim, 'POST', '/_sim/faults', { json: { kind: 'http500' } });
      expect(added.status).to.equal(201);

      const failed = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'k500' });
      expect(failed.status).to.equal(500);
      expect(errorOf(failed)['type']).to.equal('api_error');
      expect(sim.paymentIntents()).to.have.length(0);

      const next = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'k500' });
      expect(next.status).to.equal(200);
      expect(next.headers['idempotent-replayed']).to.equal(undefined);
    });

    it('applies a fault only to matching requests, as many times as asked', async () => {
      sim.faults.add({ kind: 'http500', match: { method: 'POST', pathPrefix: '/v1/refunds' }, times: 2 });
      const pi = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm });
      expect(pi.status).to.equal(200);
      const id = (pi.json as { id: string }).id;
      const refund = (): Promise<Answer> => call(sim, 'POST', '/v1/refunds', { form: { payment_intent: id, amount: '1' } });
      expect((await refund()).status).to.equal(500);
      expect((await refund()).status).to.equal(500);
      expect((await refund()).status).to.equal(200);
      expect(sim.faults.list()).to.deep.equal([]);
      expect(sim.stats().faultsInjected).to.equal(2);
    });

    it('delays a matching request by at least the injected latency', async () => {
      sim.faults.add({ kind: 'latency', ms: 120 });
      const started = process.hrtime.bigint();
      const answer = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm });
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      expect(answer.status).to.equal(200);
      expect(elapsedMs).to.be.at.least(119);
    });

    it('drops the connection after storing the charge, and replays it for the same key', async () => {
      sim.faults.add({ kind: 'chargeThenDrop', match: { pathPrefix: '/v1/payment_intents' } });
      const dropped = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'drop' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(dropped).to.include({ code: 'ECONNRESET' });
      expect(sim.paymentsForKey('drop')).to.equal(1);

      const retried = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'drop' });
      expect(retried.headers['idempotent-replayed']).to.equal('true');
      expect((retried.json as { id: string }).id).to.equal(sim.paymentIntents()[0]?.id);
    });

    it('processes a hanging request but never answers it', async () => {
      sim.faults.add({ kind: 'hang' });
      const outcome = await new Promise<string>((resolve) => {
        const req = http.request(`${sim.url}/v1/payment_intents`, {
          method: 'POST',
          agent: false,
          headers: { authorization: `Bearer ${sim.secretKey}`, 'idempotency-key': 'hang' },
        });
        req.on('response', () => resolve('answered'));
        req.on('error', () => resolve('gave up'));
        req.setTimeout(100, () => req.destroy());
        req.end(new URLSearchParams(visaForm).toString());
      });
      expect(outcome).to.equal('gave up');
      expect(sim.paymentsForKey('hang')).to.equal(1);
    });

    it('lets held requests go on when released over HTTP', async () => {
      await call(sim, 'POST', '/_sim/faults', { json: { kind: 'hold', times: 2 } });
      const held = [
        call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'h1' }),
        call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'h2' }),
      ];
      await sim.whenHeld(2);
      expect(sim.stats().held).to.equal(2);
      const released = await call(sim, 'POST', '/_sim/release');
      expect(released.json).to.deep.equal({ released: 2 });
      expect((await Promise.all(held)).map((a) => a.status)).to.deep.equal([200, 200]);
    });

    it('validates faults sent over HTTP, lists them, and clears them with DELETE', async () => {
      const invalid = await call(sim, 'POST', '/_sim/faults', { json: { kind: 'meteor' } });
      expect(invalid.status).to.equal(400);
      const badLatency = await call(sim, 'POST', '/_sim/faults', { json: { kind: 'latency' } });
      expect(badLatency.status).to.equal(400);

      await call(sim, 'POST', '/_sim/faults', { json: { kind: 'latency', ms: 5, times: 'unlimited', match: { method: 'GET' } } });
      const listed = await call(sim, 'GET', '/_sim/faults');
      expect(listed.json).to.deep.equal({ faults: [{ kind: 'latency', ms: 5, times: 'unlimited', match: { method: 'GET' } }] });

      const cleared = await call(sim, 'DELETE', '/_sim/faults');
      expect(cleared.status).to.equal(200);
      expect(sim.faults.list()).to.deep.equal([]);
    });
  });

  describe('control and accounting', () => {
    it('requires the API key on control endpoints too', async () => {
      const answer = await call(sim, 'GET', '/_sim/stats', { authorization: null });
      expect(answer.status).to.equal(401);
    });

    it('reports counts per idempotency key and PaymentIntents grouped by a metadata key', async () => {
      const order = (orderId: string, key: string): Promise<Answer> =>
        call(sim, 'POST', '/v1/payment_intents', { form: { ...visaForm, 'metadata[order_id]': orderId }, key });
      await order('o-1', 'a');
      await order('o-1', 'a'); // replay: no new PaymentIntent
      await order('o-2', 'b');
      await order('o-2', 'c'); // a second key for one order: two PaymentIntents

      const answer = await call(sim, 'GET', '/_sim/stats?group_by=order_id');
      const stats = answer.json as SimulatorStats;
      expect(stats).to.deep.equal(sim.stats({ groupBy: 'order_id' }));
      expect(stats.requests).to.equal(4);
      expect(stats.paymentIntentsCreated).to.equal(3);
      expect(stats.idempotentReplays).to.equal(1);
      expect(stats.byIdempotencyKey['a']).to.include({ requests: 2, processed: 1, replays: 1, paymentIntentsCreated: 1 });
      expect(stats.paymentIntentsGroupedBy).to.deep.equal({ metadataKey: 'order_id', counts: { 'o-1': 1, 'o-2': 2 } });
    });

    it('forgets PaymentIntents, keys, faults and counters on reset', async () => {
      await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'again' });
      sim.faults.add({ kind: 'http500', match: { pathPrefix: '/v1/refunds' } });
      const reset = await call(sim, 'POST', '/_sim/reset');
      expect(reset.status).to.equal(200);
      expect(sim.paymentIntents()).to.deep.equal([]);
      expect(sim.faults.list()).to.deep.equal([]);
      expect(sim.stats()).to.include({ requests: 0, paymentIntentsCreated: 0 });

      const fresh = await call(sim, 'POST', '/v1/payment_intents', { form: visaForm, key: 'again' });
      expect(fresh.headers['idempotent-replayed']).to.equal(undefined);
    });

    it('refuses connections while paused, closes idle keep-alive ones, and listens on the same port after resume', async () => {
      const agent = new http.Agent({ keepAlive: true });
      try {
        expect((await call(sim, 'GET', '/_sim/stats', { agent })).status).to.equal(200);
        expect(Object.keys(agent.freeSockets)).to.have.length(1);
        const port = sim.port;

        await sim.pause();
        expect(Object.keys(agent.freeSockets)).to.have.length(0);
        const refused = await new Promise<unknown>((resolve) => {
          net
            .connect(port, '127.0.0.1')
            .on('connect', () => resolve('connected'))
            .on('error', resolve);
        });
        expect(refused).to.include({ code: 'ECONNREFUSED' });

        await sim.resume();
        expect(sim.port).to.equal(port);
        expect((await call(sim, 'GET', '/_sim/stats', { agent })).status).to.equal(200);
      } finally {
        agent.destroy();
      }
    });

    it('closes a connection that was busy when it paused once its request is answered', async () => {
      const agent = new http.Agent({ keepAlive: true });
      try {
        sim.faults.add({ kind: 'hold' });
        const busy = call(sim, 'POST', '/v1/payment_intents', { form: visaForm, agent });
        await sim.whenHeld(1);
        const [socket] = Object.values(agent.sockets).flat();
        const socketClosed = new Promise<void>((resolve) => socket?.once('close', () => resolve()));

        await sim.pause();
        sim.releaseHeld();
        expect((await busy).status).to.equal(200);
        await socketClosed;
      } finally {
        agent.destroy();
        await sim.resume();
      }
    });
  });

  describe('lifecycle', () => {
    it('closes keep-alive connections and those serving a request when it closes', async () => {
      const own = await startProviderSimulator();
      const agent = new http.Agent({ keepAlive: true });
      expect((await call(own, 'GET', '/_sim/stats', { agent })).status).to.equal(200);
      const [pooled] = Object.values(agent.freeSockets).flat();
      const pooledClosed = new Promise<void>((resolve) => pooled?.once('close', () => resolve()));

      own.faults.add({ kind: 'hold' });
      const inFlight = call(own, 'POST', '/v1/payment_intents', { form: visaForm, key: 'k' }).then(
        () => 'answered',
        (err: unknown) => err,
      );
      await own.whenHeld(1);
      await own.close();

      await pooledClosed;
      expect(await inFlight).to.include({ code: 'ECONNRESET' });
      agent.destroy();
    });

    it('runs from the command line, prints its URL and key as one JSON line, and exits on SIGTERM', async function () {
      this.timeout(20_000); // a fresh Node process compiling TypeScript
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'simulator-main.ts'), '--port', '0', '--secret-key', 'sk_test_cli'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
        const printed = JSON.parse(line) as { url: string; secret_key: string };
        expect(printed.secret_key).to.equal('sk_test_cli');
        expect(printed.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

        const stats = await new Promise<number>((resolve, reject) => {
          http
            .get(`${printed.url}/_sim/stats`, { headers: { authorization: 'Bearer sk_test_cli' }, agent: false }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            })
            .on('error', reject);
        });
        expect(stats).to.equal(200);
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).to.equal(0);
    });
  });
});
