/**
 * Node flags for worker threads. A worker inherits the process's flags when none are given, and
 * that is what Modelport's workers want; handing them over explicitly is refused for flags that are
 * process-wide (--trace-gc, --perf-basic-prof…). The one flag a worker cannot inherit is
 * --input-type (set when Modelport runs inside `node --input-type=module -e …`): a worker given it
 * refuses to load its file, and then it gets none.
 */
export function workerExecArgv(): { execArgv?: string[] } {
  return process.execArgv.some((flag) => flag.startsWith('--input-type')) ? { execArgv: [] } : {};
}
