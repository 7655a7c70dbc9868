/**
 * Reads the .cpuprofile files node writes under --cpu-prof (one per thread: the main thread and
 * every worker) and ranks functions by self time, so a profiling run says where the server's time
 * goes. Self time is summed per function name and script URL, not per call-tree node, since the
 * same function appears under many callers. Sample i lasts until sample i+1 (the last one until
 * the profile's end), which is how Chrome DevTools reads timeDeltas.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionCost {
  functionName: string;
  url: string;
  selfMs: number;
  /** Share of the profile's sampled time. */
  percent: number;
}

export interface ThreadProfile {
  file: string;
  /** Thread id from node's file name (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile); 0 = main. */
  threadId: number;
  totalMs: number;
  /** Sampled time not spent idle: tells the worker that ran the model from the ones that waited. */
  busyMs: number;
  top: FunctionCost[];
}

export function summariseProfile(file: string, limit = 25): ThreadProfile {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const key = new Map<number, string>();
  const frames = new Map<string, { functionName: string; url: string }>();
  for (const node of profile.nodes) {
    const functionName = node.callFrame.functionName || '(anonymous)';
    const id = `${functionName}\u0000${node.callFrame.url}`;
    key.set(node.id, id);
    if (!frames.has(id)) frames.set(id, { functionName, url: node.callFrame.url });
  }
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  const { samples, timeDeltas } = profile;
  let at = profile.startTime;
  const stamps: number[] = new Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    stamps[i] = at;
  }
  for (let i = 0; i < samples.length; i++) {
    const duration = Math.max(0, (i + 1 < samples.length ? stamps[i + 1]! : profile.endTime) - stamps[i]!);
    const id = key.get(samples[i]!) ?? '(unknown)';
    selfUs.set(id, (selfUs.get(id) ?? 0) + duration);
    totalUs += duration;
  }
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([id, us]) => {
      const frame = frames.get(id) ?? { functionName: id, url: '' };
      return { functionName: frame.functionName, url: frame.url, selfMs: us / 1000, percent: totalUs > 0 ? (us / totalUs) * 100 : 0 };
    });
  const parts = basename(file).split('.');
  const idleUs = selfUs.get('(idle)\u0000') ?? 0;
  return { file, threadId: Number(parts[4] ?? 0), totalMs: totalUs / 1000, busyMs: (totalUs - idleUs) / 1000, top };
}

export function summariseProfiles(dir: string, limit = 25): ThreadProfile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => summariseProfile(join(dir, name), limit))
    .sort((a, b) => a.threadId - b.threadId);
}

/** Shortens file:///…/node_modules/x/y.js and the repository's own paths for a readable table. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export function formatProfile(thread: ThreadProfile): string {
  const title = thread.threadId === 0 ? 'main thread' : `worker thread ${thread.threadId}`;
  const lines = [`${title} (${basename(thread.file)}), ${thread.totalMs.toFixed(0)} ms sampled, ${thread.busyMs.toFixed(0)} ms not idle`, '   self ms      %  function  (script)'];
  for (const cost of thread.top) {
    lines.push(`${cost.selfMs.toFixed(1).padStart(10)} ${cost.percent.toFixed(1).padStart(6)}  ${cost.functionName}  ${shortUrl(cost.url) ? `(${shortUrl(cost.url)})` : ''}`);
  }
  return lines.join('\n');
}
