import { invalidArgument, SandboxError } from "../errors.js";
import type {
  ExecOptions,
  ExecResult,
  SandboxProcess,
  WaitForOutputOptions,
  WaitForPortOptions,
} from "../sandbox.js";
import { abortedError } from "../ssh/semaphore.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { checkDurationMs } from "../validate.js";

/** How long waitForPort and waitForOutput wait when no `timeoutMs` is given. */
const DEFAULT_WAIT_MS = 30_000;
/** The newest text per stream that a pattern is matched against (a match must fit in it). */
const MATCH_WINDOW_CHARS = 1024 * 1024;
/** How much longer than the deadline the VM-side poll would go on by itself (see PORT_POLL). */
const EXEC_SLACK_MS = 10_000;

function checkWaitOptions(
  options: unknown,
  what: string,
): { timeoutMs: number; signal: AbortSignal | undefined } {
  const given = (options ?? {}) as WaitForPortOptions;
  if (typeof given !== "object" || given === null)
    throw invalidArgument(`${what} options must be an object.`);
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) {
    throw invalidArgument("signal must be an AbortSignal.");
  }
  return {
    timeoutMs: checkDurationMs(given.timeoutMs, "timeoutMs") ?? DEFAULT_WAIT_MS,
    signal: given.signal,
  };
}

/**
 * Polls on the VM (one command, no round trip per attempt): connects to 127.0.0.1 and ::1 every
 * 50 ms until one accepts. perl-base's Socket only, as the agent and the process host need perl
 * anyway. The exec's deadline ends it; the attempt count is only a backstop should that kill
 * never arrive (exit 3).
 */
const PORT_POLL = `use Socket; my ($port, $tries) = @ARGV;
my @to = ([PF_INET, pack_sockaddr_in($port, inet_aton("127.0.0.1"))]);
push @to, [PF_INET6, Socket::pack_sockaddr_in6($port, Socket::inet_pton(AF_INET6, "::1"))] if defined &Socket::inet_pton;
for (1 .. $tries) { for my $t (@to) { socket(my $s, $t->[0], SOCK_STREAM, 0) or next; if (connect($s, $t->[1])) { close $s; exit 0 } close $s }
  select(undef, undef, undef, 0.05) } exit 3`;

/** See {@link Sandbox.waitForPort}. */
export async function waitForPort(
  exec: (command: string, options: ExecOptions) => Promise<ExecResult>,
  port: unknown,
  options: WaitForPortOptions | undefined,
): Promise<void> {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw invalidArgument("port must be an integer from 1 to 65535.");
  }
  const { timeoutMs, signal } = checkWaitOptions(options, "waitForPort");
  if (signal?.aborted) throw abortedError(signal);
  const tries = Math.ceil((timeoutMs + EXEC_SLACK_MS) / 50);
  const result = await exec(`perl -e ${shellQuote(PORT_POLL)} ${port} ${tries}`, { timeoutMs, signal });
  if (result.exitCode === 0) return;
  if (result.exitCode === 3 || result.timedOut) {
    throw new SandboxError("timeout", `Nothing accepted connections on port ${port} within ${timeoutMs} ms.`);
  }
  if (result.exitCode === 127) {
    throw new SandboxError("unsupported", "waitForPort needs perl on the VM.");
  }
  throw new SandboxError("io_error", `Waiting for port ${port} failed (exit ${result.exitCode}).`);
}

/** A pattern as a matcher over a stream's text so far. */
function matcherOf(pattern: unknown): (text: string) => string | undefined {
  if (typeof pattern === "string") {
    if (pattern === "") throw invalidArgument("pattern must not be empty.");
    return (text) => (text.includes(pattern) ? pattern : undefined);
  }
  if (pattern instanceof RegExp) {
    // A global or sticky regex carries lastIndex from call to call: match from the start every time.
    const regex = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
    return (text) => regex.exec(text)?.[0];
  }
  throw invalidArgument("pattern must be a string or a RegExp.");
}

/** See {@link Sandbox.waitForOutput}. */
export async function waitForOutput(
  process: SandboxProcess,
  pattern: unknown,
  options: WaitForOutputOptions | undefined,
): Promise<string> {
  if (
    typeof process !== "object" ||
    process === null ||
    typeof process.stdout?.[Symbol.asyncIterator] !== "function"
  ) {
    throw invalidArgument("process must be a SandboxProcess.");
  }
  const match = matcherOf(pattern);
  const { timeoutMs, signal } = checkWaitOptions(options, "waitForOutput");
  const stream = options?.stream ?? "both";
  if (stream !== "stdout" && stream !== "stderr" && stream !== "both") {
    throw invalidArgument('stream must be "stdout", "stderr" or "both".');
  }
  if (signal?.aborted) throw abortedError(signal);
  const sources = [
    ...(stream !== "stderr" ? [process.stdout] : []),
    ...(stream !== "stdout" ? [process.stderr] : []),
  ];
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  let settled = false;
  return await new Promise<string>((resolve, reject) => {
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      for (const iterator of iterators) void iterator.return?.().catch(() => {});
      outcome();
    };
    const onAbort = (): void => finish(() => reject(abortedError(signal)));
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(new SandboxError("timeout", `The pattern did not appear within ${timeoutMs} ms.`)),
        ),
      timeoutMs,
    );
    let open = iterators.length;
    for (const iterator of iterators) {
      void (async () => {
        let text = "";
        try {
          for (;;) {
            const next = await iterator.next();
            if (settled) return;
            if (next.done) break;
            text += next.value;
            if (text.length > MATCH_WINDOW_CHARS) text = text.slice(-MATCH_WINDOW_CHARS);
            const found = match(text);
            if (found !== undefined) {
              finish(() => resolve(found));
              return;
            }
          }
        } catch (error) {
          finish(() => reject(error));
          return;
        }
        if (--open === 0) {
          finish(() =>
            reject(new SandboxError("closed", "The process exited without printing the pattern.")),
          );
        }
      })();
    }
  });
}
