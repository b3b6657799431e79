import { CaptureMethod } from '../../src/gen/payments/v1/payments.js';
import type { CreateChargeSpec } from './generators/create-charge.js';
import { MetadataSpec } from './generators/create-charge.js';
import type { KeySpec } from './generators/idempotency-key.js';
import type { Step } from './generators/scenario.js';
import { Text } from './generators/text.js';
import { startPropertyEnv, stopPropertyEnv } from './property-env.js';
import { type PropertyEnv, runScenario } from './scenario-runner.js';

/**
 * Shrunk counterexamples of the property, kept as plain tests with the exact input fast-check
 * reported. Each runs through the same checks as the property (refused with nothing done, or
 * done exactly once, recorded and replayed byte for byte).
 */

const text = (s: string): Text => new Text([...s], [...s].length);
const key: KeySpec = { kind: 'valid', text: text('regression-key') };

/** The shrunk create, apart from the field that matters. */
function create(overrides: Partial<CreateChargeSpec>): Step {
  return {
    rpc: 'CreateCharge',
    key,
    create: {
      amount: '1',
      currency: 'aed',
      paymentMethod: 'pm_card_visa',
      customerId: text(''),
      description: text(''),
      metadata: new MetadataSpec(0, text('k'), text('v'), []),
      captureMethod: CaptureMethod.CAPTURE_METHOD_UNSPECIFIED,
      ...overrides,
    },
  };
}

describe('property regressions: shrunk counterexamples', () => {
  let env: PropertyEnv | undefined;
  const run = (steps: Step[]): Promise<void> => {
    if (!env) throw new Error('servers did not start');
    return runScenario(env, steps);
  };

  before(async () => {
    env = await startPropertyEnv();
  });
  after(async () => {
    await stopPropertyEnv(env);
  });

  it('does not charge, leave in progress or answer UNAVAILABLE for 49 metadata values of 500 NUL characters (JSON-escaped past the column)', async () => {
    // Shrunk from seed 233472751: each NUL is one character and one UTF-8 byte, but six bytes
    // ("\u0000") in the stored JSON, so 49 x 500 of them pass validation and overflow TEXT.
    await run([create({ metadata: new MetadataSpec(49, new Text(['a', 'a'], 1), new Text(['\u0000'], 500), []) })]);
  });

  it('refuses capture_method -1 (the number ts-proto calls UNRECOGNIZED) instead of charging it as automatic', async () => {
    await run([create({ captureMethod: -1 })]);
  });

  it('answers a too-long metadata key whose quoted first 50 UTF-16 units end in half of an astral character, instead of never answering', async () => {
    // Shrunk: the refusal quotes the key cut at 50 UTF-16 units, which splits 𢼯 into a lone
    // surrogate; the status cannot be sent and the call runs into the client's deadline.
    await run([create({ metadata: new MetadataSpec(1, new Text(['\u0000', '\u{22F2F}'], 40), text(''), []) })]);
  });

  it('answers NOT_FOUND for a long charge id whose quoted first 60 UTF-16 units end in half of an emoji, instead of throwing out of grpc-js', async () => {
    // Shrunk (seed 893146631, a CancelCharge; the same for every follow-up): the NOT_FOUND message
    // quotes the id cut at 60 UTF-16 units, "ch_" then emoji puts a surrogate pair across the
    // cut, and grpc-js's encodeURI of the message throws URIError out of the call: a server
    // process exits (checked with `npm start`: exit code 1).
    await run([{ rpc: 'CaptureCharge', key, target: { kind: 'id', id: `ch_${'\u{1F600}'.repeat(30)}` }, amount: { kind: 'unset' } }]);
  });
});
