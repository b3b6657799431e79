/** Runs a short-lived tool (`mysqld --version`, the data-dir init tool) and collects its output. */
import { execFile } from 'node:child_process';

/** The command failed or timed out; carries what it printed, for the error message. */
export class RunError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RunError';
  }
}

export function run(command: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8', ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      if (err) {
        reject(new RunError(`${command} failed: ${err.message}`, stdout, stderr, { cause: err }));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}
