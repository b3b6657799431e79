import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** grpc.health.v1.Health methods, with the (de)serializers of the definition grpc-health-check ships. */
const HEALTH_CHECK = (healthService as grpc.ServiceDefinition)['Check'] as grpc.MethodDefinition<{ service: string }, { status: string }>;
const HEALTH_WATCH = (healthService as grpc.ServiceDefinition)['Watch'] as grpc.MethodDefinition<{ service: string }, { status: string }>;

/** Per-call deadline of a Check: far above a local round trip, below any test timeout. */
const CHECK_DEADLINE_MS = 10_000;

/** grpc.health.v1.Health/Check: the status, or the gRPC code it failed with. */
export function checkHealth(port: number, service: string): Promise<{ status?: string; code?: grpc.status }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      HEALTH_CHECK.path,
      HEALTH_CHECK.requestSerialize,
      HEALTH_CHECK.responseDeserialize,
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + CHECK_DEADLINE_MS },
      (err, response) => {
        client.close();
        resolve(err ? { code: err.code } : { status: response?.status ?? 'no response' });
      },
    );
  });
}

export interface HealthWatch {
  /** Every status received, with the time (Date.now()) it arrived. */
  readonly history: ReadonlyArray<{ status: string; at: number }>;
  /**
   * Resolves with the arrival time of the first status `status` received at or after `since`
   * (default: any time); rejects if none arrives within `timeoutMs` or the stream fails.
   */
  until(status: string, timeoutMs: number, since?: number): Promise<number>;
  close(): void;
}

/** A Health/Watch stream: the server pushes every change, so tests wait for an event, never a sleep. */
export function watchHealth(port: number, service: string): HealthWatch {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const history: Array<{ status: string; at: number }> = [];
  let failure: Error | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const stream = client.makeServerStreamRequest(HEALTH_WATCH.path, HEALTH_WATCH.requestSerialize, HEALTH_WATCH.responseDeserialize, { service });
  stream.on('data', (response: { status: string }) => {
    history.push({ status: response.status, at: Date.now() });
    wake();
  });
  stream.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) failure = err;
    wake();
  });
  return {
    history,
    until: (status, timeoutMs, since = 0) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = history.find((h) => h.status === status && h.at >= since);
          if (hit) {
            done(() => resolve(hit.at));
            return;
          }
          if (failure) {
            done(() => reject(failure));
            return;
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${status} for ${service || '""'} within ${timeoutMs} ms; saw ${JSON.stringify(history)}`))),
          timeoutMs,
        );
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      }),
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}
