import type { TopLevelSpec } from 'vega-lite';

/** One strategy's figures, as the chart shows them. */
export interface ChartRow {
  strategy: string;
  duplicateRatePct: number;
  lostCharges: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ChartOptions {
  title: string;
  subtitle: string;
}

/** A view inside the top-level concatenation, taken from vega-lite's public top-level type. */
type Panel = Extract<TopLevelSpec, { vconcat: unknown }>['vconcat'][number];
type NumericField = 'duplicateRatePct' | 'lostCharges' | 'throughput';

const PANEL_WIDTH = 230;
const PANEL_HEIGHT = 170;

/**
 * A horizontal bar per strategy with its value printed at the end of the bar.
 * The axis spans at least [0, minExtent] so that an all-zero column (lost
 * charges, hopefully) still draws a readable axis, and leaves room for labels.
 */
function barPanel(rows: readonly ChartRow[], title: string, field: NumericField, format: string, color: string, minExtent: number): Panel {
  const max = Math.max(minExtent, ...rows.map((r) => r[field]));
  const counts = format === 'd';
  return {
    data: { name: 'figures' },
    title,
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    encoding: {
      y: { field: 'strategy', type: 'nominal', sort: null, title: null },
      x: {
        field,
        type: 'quantitative',
        title: null,
        scale: { domain: [0, max * 1.15] },
        axis: { grid: true, tickCount: 4, ...(counts ? { tickMinStep: 1, format: 'd' } : {}) },
      },
    },
    layer: [
      { mark: { type: 'bar', color } },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 11 }, encoding: { text: { field, type: 'quantitative', format } } },
    ],
  };
}

function latencyPanel(rows: readonly ChartRow[]): Panel {
  const max = Math.max(1, ...rows.map((r) => r.p99Ms));
  return {
    data: { name: 'latency' },
    title: 'Latency of a logical payment (ms)',
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
    encoding: {
      y: { field: 'strategy', type: 'nominal', sort: null, title: null },
      yOffset: { field: 'percentile', type: 'nominal' },
      x: { field: 'ms', type: 'quantitative', title: null, scale: { domain: [0, max * 1.15] }, axis: { grid: true, tickCount: 4 } },
    },
    layer: [
      {
        mark: 'bar',
        encoding: { color: { field: 'percentile', type: 'nominal', scale: { range: ['#74c476', '#238b45'] }, legend: { orient: 'bottom', title: null } } },
      },
      { mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 }, encoding: { text: { field: 'ms', type: 'quantitative', format: '.0f' } } },
    ],
  };
}

/**
 * The duplicate-charge benchmark as an SVG: duplicate rate, lost charges,
 * throughput and latency per strategy. The spec is vega-lite, compiled to vega
 * and rendered by vega's headless view (SVG needs no canvas).
 */
export async function renderDuplicatesChart(rows: readonly ChartRow[], options: ChartOptions): Promise<string> {
  // vega and vega-lite ship as ES modules only; a dynamic import loads them from this CommonJS script.
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const latency = rows.flatMap((r) => [
    { strategy: r.strategy, percentile: 'p50', ms: r.p50Ms },
    { strategy: r.strategy, percentile: 'p99', ms: r.p99Ms },
  ]);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: options.subtitle, anchor: 'start' },
    config: { font: 'sans-serif', view: { stroke: null }, axisY: { labelLimit: 260 }, concat: { spacing: 40 }, title: { offset: 12 } },
    background: 'white',
    padding: 12,
    datasets: { figures: rows.map((r) => ({ ...r })), latency },
    vconcat: [
      {
        hconcat: [
          barPanel(rows, 'Duplicate charge rate (% of logical payments)', 'duplicateRatePct', '.2f', '#d62728', 1),
          barPanel(rows, 'Lost charges', 'lostCharges', 'd', '#9467bd', 1),
        ],
      },
      { hconcat: [barPanel(rows, 'Throughput (logical payments/s)', 'throughput', '.0f', '#1f77b4', 1), latencyPanel(rows)] },
    ],
  };
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
