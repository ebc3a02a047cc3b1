/**
 * Flame graphs and summaries of V8 CPU profiles (the `.cpuprofile` files `node --cpu-prof` writes),
 * for `npm run bench:profile`. Hand-written because no maintained npm package renders a static SVG
 * from the current .cpuprofile format: `flamegraph` (2015) cannot read it, @platformatic/flame and
 * d3-flame-graph draw interactive HTML/WebGL that needs a browser, and a report wants an image.
 * Pure functions: a profile in, folded stacks, an SVG string and a summary out.
 */
import { fileURLToPath } from 'node:url';

/** One node of a V8 CPU profile's call tree. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
/** A V8 `.cpuprofile`: the call tree, and which node was on the CPU at each sample (times in µs). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The profile of a process's main thread: node names it CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, thread 0 the main one (the others are tsx's loader worker). */
export const isMainThreadProfile = (file: string) => profileThread(file) === 0;

/**
 * The thread a profile file is of (node names it CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile),
 * undefined for another file. Thread 0 is the main thread and 1 tsx's module loader (started first,
 * with `--import tsx`); threads from 2 on are the process's own workers, such as the Temporal
 * worker's workflow thread, where the workflows run.
 */
export function profileThread(file: string): number | undefined {
  const match = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file);
  return match ? Number(match[1]) : undefined;
}

/** project: the repository's own files; package: node_modules; node: node's internals; native: GC, V8/C++ builtins, `(program)`. */
export type FrameKind = 'project' | 'package' | 'node' | 'native';
/** A stack frame as drawn: its label, kind and the "package" its self time counts for in the summary. */
export interface Frame {
  label: string;
  kind: FrameKind;
  group: string;
}
/** Stacks (root first) with the CPU time (µs) their leaf was sampled on; `totalUs` is their sum. */
export interface Folded {
  stacks: { frames: Frame[]; us: number }[];
  totalUs: number;
}

/**
 * Label, kind and group of a call frame: function name and short location; files under
 * `projectRoot` relative to it, `node_modules/<pkg>/…/file.js` as `<pkg> file.js`, `node:` kept.
 */
export function describeFrame(callFrame: ProfileNode['callFrame'], projectRoot: string): Frame {
  const name = callFrame.functionName || '(anonymous)';
  const { url } = callFrame;
  // tsx emits each .ts module on one line: a position on line 1 says nothing, so it is left out.
  const line = callFrame.lineNumber > 0 ? `:${callFrame.lineNumber + 1}` : '';
  if (url === '' || !/^(file|node):/.test(url)) {
    const group = name === '(garbage collector)' ? 'GC' : name === '(program)' ? '(program)' : 'native (V8/C++)';
    return { label: url ? `${name} ${url}` : name, kind: 'native', group };
  }
  if (url.startsWith('node:')) return { label: `${name} ${url}${line}`, kind: 'node', group: url.split('/').slice(0, 2).join('/') };
  const path = fileURLToPath(url);
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const inside = path.slice(modules + '/node_modules/'.length).split('/');
    const pkg = inside.slice(0, inside[0]!.startsWith('@') ? 2 : 1).join('/');
    return { label: `${name} ${pkg} ${inside.at(-1)}${line}`, kind: 'package', group: pkg };
  }
  const root = projectRoot.endsWith('/') ? projectRoot : `${projectRoot}/`;
  const file = path.startsWith(root) ? path.slice(root.length) : path;
  return { label: `${name} ${file}${line}`, kind: 'project', group: file };
}

/**
 * Folds a profile into stacks weighted by time: each sample lasts until the next one (the last
 * until `endTime`). `(idle)` samples are dropped (not CPU); `(program)` (native work with no
 * JavaScript on the stack) is kept as a root of its own. With `window` (µs, the profile's
 * monotonic clock, the same as `process.hrtime` on the machine), only samples inside it count.
 */
export function foldProfile(profile: CpuProfile, projectRoot: string, window?: { fromUs: number; toUs: number }): Folded {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const weights = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i]!;
    const next = i + 1 < profile.samples.length ? at + profile.timeDeltas[i + 1]! : profile.endTime;
    const from = Math.max(at, window?.fromUs ?? -Infinity);
    const to = Math.min(next, window?.toUs ?? Infinity);
    if (to > from) weights.set(id, (weights.get(id) ?? 0) + (to - from));
  });
  const stacks: Folded['stacks'] = [];
  for (const [id, us] of weights) {
    const frames: Frame[] = [];
    for (let n = byId.get(id); n !== undefined && parent.has(n.id); n = byId.get(parent.get(n.id)!)) frames.unshift(describeFrame(n.callFrame, projectRoot));
    if (frames.length === 0 || frames[0]!.label === '(idle)') continue;
    stacks.push({ frames, us });
  }
  return { stacks, totalUs: stacks.reduce((sum, s) => sum + s.us, 0) };
}

/** Brendan Gregg's folded format (`a;b;c 123`), one stack a line, for other flame graph tools. */
export const foldedText = (folded: Folded) =>
  folded.stacks.map((s) => `${s.frames.map((f) => f.label.replace(/;/g, ':')).join(';')} ${Math.round(s.us)}`).join('\n');

interface Tree {
  frame: Frame;
  us: number;
  children: Map<string, Tree>;
}
function buildTree(folded: Folded): Tree {
  const root: Tree = { frame: { label: 'all', kind: 'native', group: 'all' }, us: 0, children: new Map() };
  for (const { frames, us } of folded.stacks) {
    let node = root;
    node.us += us;
    for (const frame of frames) {
      let child = node.children.get(frame.label);
      if (child === undefined) node.children.set(frame.label, (child = { frame, us: 0, children: new Map() }));
      child.us += us;
      node = child;
    }
  }
  return root;
}

const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const hues: Record<FrameKind, [number, string]> = {
  project: [30, 'project code'],
  package: [210, 'npm packages'],
  node: [120, 'node internals'],
  native: [0, 'GC, V8 and native'],
};
/** A colour of the frame's kind, varied by its label so neighbours stay apart. */
function colour(frame: Frame): string {
  const vary = [...frame.label].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1000, 7) / 1000;
  return `hsl(${hues[frame.kind][0] + Math.round(vary * 20)}, ${frame.kind === 'native' ? 45 : 70}%, ${62 + Math.round(vary * 14)}%)`;
}

/** Options of {@link renderFlameGraph}. */
export interface FlameGraphOptions {
  title: string;
  /** Image width in px. @default 1200 */
  width?: number;
  /** Frames narrower than this share of the total are left out, with everything above them. @default 0.001 */
  minShare?: number;
}

/**
 * A classic flame graph as SVG: the root at the bottom, each frame as wide as its inclusive time,
 * its callees above it (alphabetically), a `<title>` tooltip with the full label, ms and %.
 */
export function renderFlameGraph(folded: Folded, options: FlameGraphOptions): string {
  const { width = 1200, minShare = 0.001 } = options;
  const [pad, row, top, charPx] = [10, 17, 44, 7];
  const total = Math.max(folded.totalUs, 1);
  const scale = (width - 2 * pad) / total;
  const rects: { x: number; depth: number; node: Tree }[] = [];
  const place = (node: Tree, x: number, depth: number) => {
    rects.push({ x, depth, node });
    for (const child of [...node.children.values()].sort((a, b) => (a.frame.label < b.frame.label ? -1 : 1))) {
      if (child.us / total >= minShare) place(child, x, depth + 1);
      x += child.us * scale;
    }
  };
  place(buildTree(folded), pad, 0);
  const depth = Math.max(...rects.map((r) => r.depth)) + 1;
  const height = top + depth * row + pad;
  const boxes = rects.map(({ x, depth: d, node }) => {
    const w = node.us * scale;
    const y = height - pad - (d + 1) * row;
    const label = node.frame.label;
    const fit = Math.floor((w - 6) / charPx);
    const text = fit < 3 ? '' : label.length <= fit ? label : `${label.slice(0, fit - 2)}..`;
    const tip = `${label} (${(node.us / 1000).toFixed(1)} ms, ${((100 * node.us) / total).toFixed(2)}%)`;
    return (
      `<g><title>${escapeXml(tip)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${row - 1}" fill="${colour(node.frame)}" rx="2"/>` +
      (text ? `<text x="${(x + 3).toFixed(2)}" y="${y + row - 5}">${escapeXml(text)}</text>` : '') +
      '</g>'
    );
  });
  const legend = (Object.keys(hues) as FrameKind[]).map(
    (kind, i) =>
      `<rect x="${pad + i * 170}" y="26" width="12" height="12" fill="${colour({ label: '', kind, group: '' })}"/><text x="${pad + 16 + i * 170}" y="36">${hues[kind][1]}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Verdana, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fdfdf6"/>`,
    `<text x="${pad}" y="17" font-size="14">${escapeXml(`${options.title}: ${(folded.totalUs / 1e6).toFixed(2)} s of non-idle samples`)}</text>`,
    ...legend,
    ...boxes,
    '</svg>',
    '',
  ].join('\n');
}

/** Self time of one function or one "package", in µs and % of the profile's sampled CPU time. */
export interface SelfTime {
  name: string;
  kind: FrameKind;
  selfUs: number;
  percent: number;
}
/** What a profile's CPU time went to: in total, by package (its self time) and by function. */
export interface ProfileSummary {
  /** Non-idle time sampled on the thread (s): wall time between samples, so a thread waiting for a core counts too. */
  cpuSeconds: number;
  byPackage: SelfTime[];
  topFunctions: SelfTime[];
}

/** Self time (the leaf frame's) grouped by package and by function, largest first; `top` functions. */
export function summarizeProfile(folded: Folded, top = 15): ProfileSummary {
  const rank = (key: (f: Frame) => string) => {
    const sums = new Map<string, SelfTime>();
    for (const { frames, us } of folded.stacks) {
      const leaf = frames.at(-1)!;
      const entry = sums.get(key(leaf)) ?? { name: key(leaf), kind: leaf.kind, selfUs: 0, percent: 0 };
      entry.selfUs += us;
      sums.set(entry.name, entry);
    }
    return [...sums.values()]
      .map((e) => ({ ...e, percent: Math.round((1000 * e.selfUs) / Math.max(folded.totalUs, 1)) / 10 }))
      .sort((a, b) => b.selfUs - a.selfUs);
  };
  return { cpuSeconds: folded.totalUs / 1e6, byPackage: rank((f) => f.group), topFunctions: rank((f) => f.label).slice(0, top) };
}
