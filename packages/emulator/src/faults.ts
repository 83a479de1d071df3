import { SandboxError } from "@exedev-sandbox/core";

function checkCount(value: number | undefined, what: string, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < minimum) {
    throw new SandboxError("invalid_argument", `${what} must be a whole number of at least ${minimum}.`);
  }
  return value;
}

/** sshd's default `MaxSessions`. */
export const OPENSSH_MAX_SESSIONS = 10;

/** exe.dev runs each `/exec` command under a 30-second deadline. */
export const COMMAND_DEADLINE_MS = 30_000;

/**
 * The faults in force. The SSH gateway and the HTTP API read them on every use, so changing
 * one takes effect at once (for SFTP idle closing: within a fraction of the idle time).
 */
export class FaultState {
  private idleCloseMs: number | undefined;
  private maxSessions: number = OPENSSH_MAX_SESSIONS;
  private failures: { count: number; status: number } | undefined;
  private deadlineMs: number = COMMAND_DEADLINE_MS;
  private createDelayMs = 0;

  /** How long `new` and `cp` take before they answer (ms); undefined sets 0. */
  get newDelayMs(): number {
    return this.createDelayMs;
  }

  set newDelayMs(ms: number | undefined) {
    this.createDelayMs = checkCount(ms, "newDelayMs", 0) ?? 0;
  }

  /** The deadline of each `/exec` command (ms); undefined sets exe.dev's 30 000. */
  get commandDeadlineMs(): number {
    return this.deadlineMs;
  }

  set commandDeadlineMs(ms: number | undefined) {
    this.deadlineMs = checkCount(ms, "commandDeadlineMs", 1) ?? COMMAND_DEADLINE_MS;
  }

  /** Close SFTP sessions idle this long (ms); undefined: never. */
  get sftpIdleCloseMs(): number | undefined {
    return this.idleCloseMs;
  }

  set sftpIdleCloseMs(ms: number | undefined) {
    this.idleCloseMs = checkCount(ms, "sftpIdleCloseMs", 1);
  }

  /** Refuse session channels past this many open on one connection; undefined sets OpenSSH's 10. */
  get maxSessionsPerConnection(): number {
    return this.maxSessions;
  }

  set maxSessionsPerConnection(count: number | undefined) {
    this.maxSessions = checkCount(count, "maxSessionsPerConnection", 1) ?? OPENSSH_MAX_SESSIONS;
  }

  /** Makes the next `count` API calls answer `status` instead of running. */
  failNextApiCalls(count: number, status: number): void {
    checkCount(count, "count", 0);
    if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
      throw new SandboxError("invalid_argument", "status must be an HTTP status code (100-599).");
    }
    this.failures = count > 0 ? { count, status } : undefined;
  }

  /** The status to fail this API call with, if a failure is pending (and counts it). */
  takeApiFailure(): number | undefined {
    if (!this.failures) return undefined;
    const { status } = this.failures;
    this.failures.count--;
    if (this.failures.count <= 0) this.failures = undefined;
    return status;
  }
}
