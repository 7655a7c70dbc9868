/**
 * Where the machine's CPU went during a measurement, besides the server: the client's share
 * (perf_analyzer, a child of this process whose time is added to this process's cutime/cstime
 * once it is reaped, which happens before a level is read) and everything outside the benchmark
 * (all busy time in /proc/stat minus this process tree). The server shares the cores with the
 * client, so both explain its figures, and a background job would skew the comparison.
 */
import { readFileSync } from 'node:fs';
import { cpuSeconds, processTree } from '../process-sampler.js';

const TICKS_PER_SECOND = 100;

/** Busy CPU seconds of the whole machine since boot (user through steal, without idle and iowait). */
function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** This process's own CPU seconds and those of its reaped children (utime+stime, cutime+cstime). */
function selfSeconds(): { own: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return { own: (fields[11]! + fields[12]!) / TICKS_PER_SECOND, children: (fields[13]! + fields[14]!) / TICKS_PER_SECOND };
}

function benchSeconds(): number {
  const self = selfSeconds();
  let total = self.own + self.children;
  for (const pid of processTree(process.pid).slice(1)) {
    const seconds = cpuSeconds(pid);
    if (!Number.isNaN(seconds)) total += seconds;
  }
  return total;
}

export interface LoadWindow {
  /** Reaped children of this process (the perf_analyzer run), % of one core. */
  clientCpuPercent: number;
  /** Processes outside the benchmark, % of one core (never below 0). */
  otherCpuPercent: number;
}

export class MachineLoad {
  #machine = 0;
  #bench = 0;
  #children = 0;
  #startedAt = 0n;

  start(): void {
    this.#machine = machineBusySeconds();
    this.#bench = benchSeconds();
    this.#children = selfSeconds().children;
    this.#startedAt = process.hrtime.bigint();
  }

  stop(): LoadWindow {
    const seconds = Number(process.hrtime.bigint() - this.#startedAt) / 1e9;
    const other = machineBusySeconds() - this.#machine - (benchSeconds() - this.#bench);
    const client = selfSeconds().children - this.#children;
    return { clientCpuPercent: (client / seconds) * 100, otherCpuPercent: Math.max(0, (other / seconds) * 100) };
  }
}
