// Helpers shared by the SFTP fault tests (not part of the build).
import type { Forwarder } from "@exedev-sandbox/testing";
import type { Sandbox } from "../sandbox.js";

/** Codes a call may end with when the connection under it was cut. */
export const CONNECTION_LOSS_CODES: ReadonlySet<string> = new Set(["connection_failed", "sandbox_died"]);

/** A file's content that names the file on every byte run, so a read from another file shows. */
export function identifyingContent(index: number, bytes: number): string {
  const unit = `<file-${String(index).padStart(3, "0")}>`;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

/** What a round of the cross-file race saw. */
export interface RaceTally {
  rounds: number;
  /** Reads that resolved with bytes that are not the file's own: the defect. */
  wrongContent: number;
  /** Reads that rejected with a code other than a connection-loss code. */
  wrongCodes: string[];
  /** Reads that resolved with their own content. */
  correct: number;
  /** Reads that rejected with a connection-loss code. */
  connectionErrors: number;
}

/**
 * Runs `rounds` rounds of: `files.length` concurrent `readFile`s of different files, the path cut
 * under them after a varying delay. Every read must either resolve with its own file's content or
 * reject with a connection-loss code.
 */
export async function raceReadsAgainstCuts(
  sandbox: Sandbox,
  hop: Forwarder,
  files: ReadonlyArray<{ path: string; content: string }>,
  rounds: number,
): Promise<RaceTally> {
  const tally: RaceTally = { rounds, wrongContent: 0, wrongCodes: [], correct: 0, connectionErrors: 0 };
  for (let round = 0; round < rounds; round++) {
    const reads = files.map((file) =>
      sandbox.readFile(file.path).then(
        (text) => ({ file, text, error: undefined as unknown }),
        (error: unknown) => ({ file, text: undefined, error }),
      ),
    );
    // Vary the moment of the cut: before the opens, between open and reads, during reads.
    const delayMs = round % 7;
    if (delayMs === 0) await new Promise((resolve) => setImmediate(resolve));
    else await new Promise((resolve) => setTimeout(resolve, delayMs));
    hop.cut();
    for (const outcome of await Promise.all(reads)) {
      if (outcome.error === undefined) {
        if (outcome.text === outcome.file.content) tally.correct++;
        else tally.wrongContent++;
      } else {
        const code = (outcome.error as { code?: string }).code ?? String(outcome.error);
        if (CONNECTION_LOSS_CODES.has(code)) tally.connectionErrors++;
        else tally.wrongCodes.push(`${code}: ${(outcome.error as Error).message}`);
      }
    }
  }
  return tally;
}
