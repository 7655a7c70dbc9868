/** Exit codes of the `modelport` command and the one place failures are reported to the user. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function reportFailure(error: unknown, code = EXIT_FAILURE): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`modelport: ${message}\n`);
  process.exitCode = code;
}
