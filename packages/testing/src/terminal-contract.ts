import { randomBytes, randomInt } from "node:crypto";
import type { Sandbox, SandboxTerminal } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { remainingProcesses } from "./remote-processes.ts";

/** What the terminal contract needs of the suite around it. */
export interface TerminalContractContext {
  /** The sandbox under test (created by the surrounding suite). */
  sandbox(): Sandbox;
  /** A path in the suite's scratch directory on the machine. */
  path(...parts: string[]): string;
  /** Drops every open connection (the fault test is skipped without it). */
  dropConnections?: () => void | Promise<void>;
}

/** How long a screen may take to show what a step waits for (a loaded machine is slow, never this slow). */
const SCREEN_TIMEOUT_MS = 15_000;

/**
 * Everything a terminal printed so far, read in the background, and a way to wait for a
 * pattern: tests wait for what the screen shows, never for a fixed time.
 */
class Screen {
  text = "";
  #waiters = new Set<() => void>();
  #done = false;

  constructor(terminal: SandboxTerminal) {
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of terminal.readable) {
          this.text += decoder.decode(chunk, { stream: true });
          for (const wake of this.#waiters) wake();
        }
      } finally {
        this.#done = true;
        for (const wake of this.#waiters) wake();
      }
    })().catch(() => {});
  }

  /** Resolves once the output (from `from` on) matches `pattern`; rejects with what it has after the timeout. */
  async until(pattern: RegExp, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + SCREEN_TIMEOUT_MS;
    for (;;) {
      const match = this.text.slice(from).match(pattern);
      if (match) return match;
      if (this.#done || Date.now() > deadline) {
        throw new Error(
          `the terminal never showed ${pattern}; it showed ${JSON.stringify(this.text.slice(-2000))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
        this.#waiters.add(wake);
      });
    }
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => String((error as { code?: unknown })?.code ?? error),
  );
}

/** `openTerminal`: a real pty, resize, a full-screen program, exit codes, and close killing what runs. */
export function defineTerminalContract({ sandbox, path, dropConnections }: TerminalContractContext): void {
  describe("terminals", () => {
    it("rejects bad options with invalid_argument before opening anything", async () => {
      const bad: unknown[] = [
        "not an object",
        { cols: 0 },
        { rows: 1.5 },
        { cols: 70_000 },
        { term: "xterm; rm -rf ~" },
        { command: "" },
        { env: { "BAD NAME": "x" } },
        { env: { A: 1 } },
        { cwd: "relative/dir" },
      ];
      for (const options of bad) {
        expect(await codeOf(sandbox().openTerminal(options as never)), JSON.stringify(options)).toBe(
          "invalid_argument",
        );
      }
    });

    it("runs the command on a pty, with cwd, env and TERM applied, and wait() gives its exit code", async () => {
      const value = `it's "$HOME" \`x\` ${randomBytes(3).toString("hex")}`;
      const terminal = await sandbox().openTerminal({
        command: `tty; printf '[%s|%s|%s]\\n' "$PWD" "$A" "$TERM"; exit 3`,
        cwd: path(),
        env: { A: value },
        term: "vt100",
      });
      const screen = new Screen(terminal);
      expect(await terminal.wait()).toEqual({ exitCode: 3 });
      await screen.until(/\]\r?\n/);
      expect(screen.text).toMatch(/^\/dev\/pts\/\d+\r?\n/m);
      expect(screen.text).toContain(`[${path()}|${value}|vt100]`);
      // The pid marker the wrapper prints on the pty is not part of what the program printed.
      expect(screen.text).not.toContain("EXEDEV_PID");
      await terminal.close();
    });

    it("runs the login shell when no command is given, and reads what is typed", async () => {
      const terminal = await sandbox().openTerminal();
      const screen = new Screen(terminal);
      await terminal.write('echo "[$((6 * 7))]"; tty\r');
      await screen.until(/\[42\][\s\S]*\/dev\/pts\/\d+/);
      await terminal.write("exit 5\r");
      expect(await terminal.wait()).toEqual({ exitCode: 5 });
      await terminal.close();
    });

    it("starts with the requested size and shows the new one after resize", async () => {
      const terminal = await sandbox().openTerminal({
        cols: 91,
        rows: 27,
        command: "stty size; IFS= read -r line; stty size; IFS= read -r line",
      });
      const screen = new Screen(terminal);
      await screen.until(/^27 91\r?$/m);
      await terminal.resize(123, 45);
      const mark = screen.text.length;
      await terminal.write("\r");
      await screen.until(/^45 123\r?$/m, mark);
      await terminal.write("\r");
      expect(await terminal.wait()).toEqual({ exitCode: 0 });
      expect(await codeOf(terminal.resize(0, 10))).toBe("invalid_argument");
      await terminal.close();
      expect(await codeOf(terminal.resize(80, 24))).toBe("closed");
    });

    it("drives vi by keystrokes to write a file", async () => {
      const file = path(`vi-${randomBytes(4).toString("hex")}.txt`);
      // -u NONE: no vimrc changes what the keys do; -n: no swap file to ask about.
      const terminal = await sandbox().openTerminal({
        cols: 80,
        rows: 24,
        command: `exec vi -u NONE -n ${file}`,
      });
      const screen = new Screen(terminal);
      // vi draws its screen with the file's name on the last line: it is reading keys by then.
      await screen.until(new RegExp(file.split("/").pop() as string));
      await terminal.write("ihello from vi");
      await screen.until(/hello from vi/);
      await terminal.write("\x1b:wq\r");
      expect(await terminal.wait()).toEqual({ exitCode: 0 });
      expect(await sandbox().readFile(file)).toBe("hello from vi\n");
      await terminal.close();
    });

    it("close() kills the program and everything it started, even what ignores SIGHUP and left its group", async () => {
      const marker = `${randomInt(10_000_000, 99_999_999)}`;
      const terminal = await sandbox().openTerminal({
        command: `trap '' HUP; (sleep 1${marker} &); echo re""ady; sleep 2${marker}`,
      });
      const screen = new Screen(terminal);
      await screen.until(/ready/);
      const started = performance.now();
      await terminal.close();
      expect(performance.now() - started).toBeLessThan(6_000);
      expect(await remainingProcesses(sandbox(), marker)).toBe("");
      // Killed: a status by signal (128 + 9), or, when the server reported none, `closed`.
      const outcome = await terminal.wait().then(
        ({ exitCode }) => `exit ${exitCode}`,
        (error: { code?: string }) => String(error.code),
      );
      expect(["exit 137", "exit 129", "closed"]).toContain(outcome);
      await terminal.close();
      expect(await codeOf(terminal.write("x"))).toBe("closed");
    });

    it("close() also kills what the program left running after it exited", async () => {
      const marker = `${randomInt(10_000_000, 99_999_999)}`;
      const terminal = await sandbox().openTerminal({ command: `trap '' HUP; (sleep 4${marker} &); exit 0` });
      void new Screen(terminal);
      expect(await terminal.wait()).toEqual({ exitCode: 0 });
      await terminal.close();
      expect(await remainingProcesses(sandbox(), marker)).toBe("");
    });

    it.skipIf(!dropConnections)(
      "when the connection drops, wait() rejects at once and the program is killed once a connection is back",
      async () => {
        const marker = `${randomInt(10_000_000, 99_999_999)}`;
        const terminal = await sandbox().openTerminal({
          command: `trap '' HUP; echo re""ady; sleep 3${marker}`,
        });
        const screen = new Screen(terminal);
        await screen.until(/ready/);
        const waited = terminal.wait().then(
          () => "resolved",
          (error: { code?: string }) => String(error.code),
        );
        const started = performance.now();
        await dropConnections?.();
        // The connection is back (or the sandbox is gone for good): either way the call tells.
        expect(["connection_failed", "sandbox_died"]).toContain(await waited);
        expect(performance.now() - started).toBeLessThan(10_000);
        // The terminal may be told before the sandbox's own connection noticed the drop (Dropbear:
        // a terminal has a connection of its own): a call racing the drop may fail with
        // `connection_failed`, as documented; the next one reconnects, and the kill the sandbox
        // owed runs then. ~2 s later nothing is left.
        for (let attempt = 0; ; attempt++) {
          const answer = await sandbox()
            .exec("echo back")
            .then(
              (result) => result.stdout,
              (error: { code?: string }) => String(error.code),
            );
          if (answer === "back\n") break;
          expect(answer).toBe("connection_failed");
          expect(attempt).toBeLessThan(3);
        }
        expect(await remainingProcesses(sandbox(), marker)).toBe("");
        expect(await codeOf(terminal.write("x"))).toBe("closed");
        await terminal.close();
      },
    );
  });
}
