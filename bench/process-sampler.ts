/**
 * CPU and memory of a process over a measurement window, read from /proc (Linux): CPU time from
 * utime+stime in /proc/<pid>/stat, which covers every thread of the process (the server's HTTP
 * thread and its inference workers alike), and resident memory from VmRSS in /proc/<pid>/status,
 * sampled during the window because it moves with batch sizes and buffers. CPU is given as a
 * percentage of one core, so 200% means two cores busy. Servers that fork workers (MLServer's
 * inference pool, uvicorn) are measured as the whole process tree.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second, the unit of utime/stime; 100 on practically every Linux. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcessWindow {
  cpuPercent: number;
  peakRssMb: number;
}

/** CPU seconds used so far by the process, or NaN when it cannot be read (process gone, no /proc). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name may contain spaces and parentheses; fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

export function rssMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The process and all its descendants, from the parent ids in /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // the process ended while the list was read
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

function sum(pids: number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    const value = read(pid);
    if (!Number.isNaN(value)) total += value;
  }
  return total;
}

/** Watches one process (with `tree`, it and its descendants) between start() and stop(). */
export class ProcessSampler {
  #cpuAtStart = Number.NaN;
  #startedAt = 0n;
  #peakRss = Number.NaN;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    readonly tree = false,
  ) {}

  #pids(): number[] {
    return this.tree ? processTree(this.pid) : [this.pid];
  }

  #cpu(): number {
    return this.tree ? sum(this.#pids(), cpuSeconds) : cpuSeconds(this.pid);
  }

  start(): void {
    this.#cpuAtStart = this.#cpu();
    this.#startedAt = process.hrtime.bigint();
    this.#peakRss = rssMb(this.pid);
    this.#timer = setInterval(() => this.#sampleRss(), 250);
  }

  stop(): ProcessWindow {
    clearInterval(this.#timer);
    this.#sampleRss();
    const seconds = Number(process.hrtime.bigint() - this.#startedAt) / 1e9;
    return { cpuPercent: ((this.#cpu() - this.#cpuAtStart) / seconds) * 100, peakRssMb: this.#peakRss };
  }

  #sampleRss(): void {
    const rss = this.tree ? sum(this.#pids(), rssMb) : rssMb(this.pid);
    if (Number.isNaN(rss)) return;
    if (Number.isNaN(this.#peakRss) || rss > this.#peakRss) this.#peakRss = rss;
  }
}
