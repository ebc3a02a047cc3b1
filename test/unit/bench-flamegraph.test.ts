import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeFrame, foldProfile, isMainThreadProfile, profileThread, renderFlameGraph, summarizeProfile, type CpuProfile } from '../../bench/flamegraph.ts';

/**
 * A small profile in the format `node --cpu-prof` writes, shaped like the real ones (recorded under
 * /work/main): each sample lasts until the next, in µs. Idle 8000; (program) 300; GC 200;
 * handleOrder 2000 self, 10 500 inclusive (pg's query 2000 + writev 6000 + `get <Order & Item>` 500);
 * sendBatch… 1000 under listOnTimeout. Non-idle total 12 000.
 */
const profile = JSON.parse(readFileSync(new URL('../fixtures/cpuprofile/small.cpuprofile', import.meta.url), 'utf8')) as CpuProfile;
const root = '/work/main';
const nonIdleUs = 12_000;

/** Each frame's rect of a rendered SVG, by the label at the start of its tooltip. */
function rects(svg: string): Map<string, { width: number; text: string | undefined; title: string }> {
  const found = new Map<string, { width: number; text: string | undefined; title: string }>();
  for (const [, title, width, text] of svg.matchAll(/<g><title>([^<]*)<\/title><rect [^>]*width="([\d.]+)"[^>]*\/>(?:<text [^>]*>([^<]*)<\/text>)?<\/g>/g))
    found.set(title!.replace(/ \([\d.]+ ms, [\d.]+%\)$/, ''), { width: Number(width), text, title: title! });
  return found;
}

describe('folding a V8 CPU profile', () => {
  const folded = foldProfile(profile, root);

  it("weighs the stacks by time so that they add up to the profile's non-idle time, idle samples left out", () => {
    expect(folded.totalUs).toBe(nonIdleUs);
    expect(folded.stacks.reduce((sum, s) => sum + s.us, 0)).toBe(nonIdleUs);
    expect(folded.stacks.some((s) => s.frames.some((f) => f.label === '(idle)'))).toBe(false);
  });

  it('gives each stack from its root frame to the one sampled, the same stack sampled twice counted once with both times', () => {
    const writev = folded.stacks.find((s) => s.frames.at(-1)!.label === 'writev')!;
    expect(writev.frames.map((f) => f.label)).toEqual([
      'processTicksAndRejections node:internal/process/task_queues:95',
      'handleOrder src/api/orders.ts:41',
      'query pg client.js:520',
      'writev',
    ]);
    expect(writev.us).toBe(6000);
  });

  it('counts only the samples inside a window, cutting a sample that straddles its edge', () => {
    // Samples start 100 µs after startTime: idle 5000, handleOrder 1000, query 2000, ...
    const start = profile.startTime + 100;
    const windowed = foldProfile(profile, root, { fromUs: start + 5500, toUs: start + 7000 });
    expect(windowed.totalUs).toBe(1500);
    expect(windowed.stacks.map((s) => [s.frames.at(-1)!.label, s.us])).toEqual([
      ['handleOrder src/api/orders.ts:41', 500],
      ['query pg client.js:520', 1000],
    ]);
  });

  it('labels a frame by its function and short location, by its kind and by the package its self time counts for', () => {
    const frame = (functionName: string, url: string) => describeFrame({ functionName, url, lineNumber: 9, columnNumber: 0 }, root);
    expect(frame('handle', 'file:///work/main/bench/drive.ts')).toEqual({ label: 'handle bench/drive.ts:10', kind: 'project', group: 'bench/drive.ts' });
    expect(frame('', 'file:///work/main/node_modules/@fastify/otel/node_modules/require-in-the-middle/index.js')).toEqual({
      label: '(anonymous) require-in-the-middle index.js:10',
      kind: 'package',
      group: 'require-in-the-middle',
    });
    expect(frame('send', 'file:///work/main/node_modules/@opentelemetry/api/build/src/api/trace.js')).toMatchObject({
      kind: 'package',
      group: '@opentelemetry/api',
    });
    expect(frame('emit', 'node:events')).toEqual({ label: 'emit node:events:10', kind: 'node', group: 'node:events' });
    expect(frame('readableAddChunk', 'node:internal/streams/readable')).toMatchObject({ kind: 'node', group: 'node:internal/streams' });
    expect(describeFrame({ functionName: 'main', url: 'file:///work/main/src/workers/api.ts', lineNumber: 0, columnNumber: 2426 }, root).label).toBe(
      'main src/workers/api.ts',
    );
    expect(frame('(garbage collector)', '')).toEqual({ label: '(garbage collector)', kind: 'native', group: 'GC' });
    expect(frame('writev', '')).toEqual({ label: 'writev', kind: 'native', group: 'native (V8/C++)' });
  });
});

describe('the flame graph', () => {
  const folded = foldProfile(profile, root);
  const svg = renderFlameGraph(folded, { title: 'api', width: 1220, minShare: 0 });
  const drawn = rects(svg);

  it('draws each frame as wide as its inclusive time, the root as wide as the whole drawing', () => {
    const perUs = (1220 - 20) / nonIdleUs;
    expect(drawn.get('all')!.width).toBeCloseTo(nonIdleUs * perUs, 1);
    expect(drawn.get('handleOrder src/api/orders.ts:41')!.width).toBeCloseTo(10_500 * perUs, 1);
    expect(drawn.get('query pg client.js:520')!.width).toBeCloseTo(8000 * perUs, 1);
    expect(drawn.get('(garbage collector)')!.width).toBeCloseTo(200 * perUs, 1);
  });

  it('puts a callee on the row above its caller, the root at the bottom', () => {
    const y = (label: string) => Number(new RegExp(`<title>${label.replace(/[()]/g, '\\$&')} \\([^<]*</title><rect [^>]*y="(\\d+)"`).exec(svg)![1]);
    expect(y('handleOrder src/api/orders.ts:41')).toBeLessThan(y('processTicksAndRejections node:internal/process/task_queues:95'));
    expect(y('processTicksAndRejections node:internal/process/task_queues:95')).toBeLessThan(y('all'));
  });

  it('gives each frame a tooltip with its full label, time in ms and share of the total', () => {
    expect(drawn.get('handleOrder src/api/orders.ts:41')!.title).toBe('handleOrder src/api/orders.ts:41 (10.5 ms, 87.50%)');
  });

  it('truncates a label that does not fit its rect, and leaves a wide enough one whole', () => {
    const label = 'sendBatchForExportSpansWithTheLongestNameInTheWorld @opentelemetry/sdk-trace-base BatchSpanProcessorBase.js:120';
    const text = drawn.get(label)!.text!;
    expect(text.endsWith('..')).toBe(true);
    expect(label.startsWith(text.slice(0, -2))).toBe(true);
    expect(text.length).toBeLessThanOrEqual(drawn.get(label)!.width / 7);
    expect(drawn.get('handleOrder src/api/orders.ts:41')!.text).toBe('handleOrder src/api/orders.ts:41');
  });

  it('escapes < and & in function names, so the SVG stays well-formed', () => {
    expect(svg).toContain('get &#60;Order &#38; Item&#62; src/domain/order.ts:12');
    expect(svg).not.toContain('<Order');
    expect(svg).not.toMatch(/&(?!#\d+;)/);
  });

  it('leaves out frames narrower than the minimum share, with what they called', () => {
    const narrow = rects(renderFlameGraph(folded, { title: 'api', minShare: 0.05 }));
    expect(narrow.has('(garbage collector)')).toBe(false);
    expect(narrow.has('get <Order & Item> src/domain/order.ts:12')).toBe(false);
    expect(narrow.has('listOnTimeout node:internal/timers:581')).toBe(true);
  });
});

describe('the summary of a profile', () => {
  const summary = summarizeProfile(foldProfile(profile, root), 3);

  it('ranks functions by self time, the top one first, and keeps only the top N', () => {
    expect(summary.topFunctions.map((f) => [f.name, f.selfUs, f.percent])).toEqual([
      ['writev', 6000, 50],
      ['handleOrder src/api/orders.ts:41', 2000, 16.7],
      ['query pg client.js:520', 2000, 16.7],
    ]);
  });

  it('sums self time by package: project file, npm package, node internal, GC', () => {
    expect(Object.fromEntries(summary.byPackage.map((p) => [p.name, p.selfUs]))).toEqual({
      'native (V8/C++)': 6000,
      'src/api/orders.ts': 2000,
      pg: 2000,
      '@opentelemetry/sdk-trace-base': 1000,
      'src/domain/order.ts': 500,
      '(program)': 300,
      GC: 200,
    });
  });

  it('gives the total non-idle CPU in seconds', () => {
    expect(summary.cpuSeconds).toBe(0.012);
  });
});

describe('finding the profiles node wrote', () => {
  it("takes the main thread's profile and not the loader worker's", () => {
    expect(isMainThreadProfile('CPU.20261129.213822.21290.0.001.cpuprofile')).toBe(true);
    expect(isMainThreadProfile('CPU.20261129.213822.21290.1.002.cpuprofile')).toBe(false);
    expect(profileThread('CPU.20261129.221154.5132.2.003.cpuprofile')).toBe(2);
    expect(profileThread('CPU.20261129.221144.5132.0.001.cpuprofile')).toBe(0);
    expect(profileThread('choreography.svg')).toBeUndefined();
  });
});
