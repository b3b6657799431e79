import type { ServerMetrics } from '../../src/metrics.js';

/**
 * How many calls of `method` (full path) the server finished, counted by the server itself, so a
 * test of the client's retries does not rely on the client's own count.
 */
export async function serverCalls(metrics: ServerMetrics, method: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric('payments_grpc_server_handling_seconds');
  if (metric === undefined) throw new Error('the server has no handling-seconds metric');
  const { values } = await metric.get();
  return (values as Array<{ value: number; labels: Record<string, string | number | undefined>; metricName?: string }>)
    .filter((v) => v.metricName === 'payments_grpc_server_handling_seconds_count' && v.labels['method'] === method)
    .reduce((n, v) => n + v.value, 0);
}
