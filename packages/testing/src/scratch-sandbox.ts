import { randomBytes } from "node:crypto";
import { type ConnectOptions, connectSandbox, type Sandbox, type SshSandbox } from "@exedev-sandbox/core";
import { afterAll, beforeAll } from "vitest";
import { type SshdServer, type StartSshdOptions, startSshd } from "./sshd.ts";

/** Options for {@link useScratchSandbox}. */
export interface ScratchSandboxOptions<S extends Sandbox = SshSandbox> {
  /** How to start the sshd. @default {} (the current user, OpenSSH defaults) */
  sshd?: StartSshdOptions;
  /** Connect options laid over the server's own (e.g. `{ transport: "channels" }`). @default {} */
  connect?: Partial<ConnectOptions>;
  /**
   * Opens the sandbox. Core's own tests pass their source `connectSandbox`, so that they test the
   * code they sit next to, not the last build. @default core's built `connectSandbox`
   */
  connectWith?: (options: ConnectOptions) => Promise<S>;
  /** Start of the scratch directory's name, which ends in a random suffix. @default "scratch" */
  prefix?: string;
}

/** What {@link useScratchSandbox} hands the suite; each field is readable once `beforeAll` ran. */
export interface ScratchSandbox<S extends Sandbox = SshSandbox> {
  /** The sshd the sandbox is connected to (for fresh connections or fault hooks). */
  readonly server: SshdServer;
  /** A core sandbox connected to {@link server}. */
  readonly sandbox: S;
  /** An empty directory under the login user's home, private to this suite and removed after it. */
  readonly dir: string;
}

/**
 * Registers a `beforeAll` that starts sshd, connects a core sandbox and makes a fresh scratch
 * directory under its home, and an `afterAll` that removes the directory (even one a test made
 * unreadable), closes the sandbox and stops the server. Call it in a `describe` (or at the top
 * of a file); read the handle's fields inside hooks and tests, not while registering them.
 */
export function useScratchSandbox<S extends Sandbox = SshSandbox>(
  options: ScratchSandboxOptions<S> = {},
): ScratchSandbox<S> {
  const open = options.connectWith ?? (connectSandbox as unknown as (o: ConnectOptions) => Promise<S>);
  let state: { server: SshdServer; sandbox?: S; dir?: string } | undefined;
  beforeAll(async () => {
    state = { server: await startSshd(options.sshd) };
    state.sandbox = await open({ ...state.server.connectOptions(), ...options.connect });
    const dir = `${state.sandbox.homeDir}/${options.prefix ?? "scratch"}-${randomBytes(4).toString("hex")}`;
    await state.sandbox.mkdir(dir);
    state.dir = dir;
  });
  afterAll(async () => {
    const { server, sandbox, dir } = state ?? {};
    // A test may have taken permissions away (an unprivileged user's permission errors).
    if (dir) await sandbox?.exec(`chmod -R u+rwX '${dir}'`).catch(() => {});
    if (dir) await sandbox?.rm(dir, { recursive: true, force: true }).catch(() => {});
    await sandbox?.close();
    await server?.stop();
  });
  const ready = () => {
    if (!state?.sandbox || !state.dir)
      throw new Error("useScratchSandbox: read the handle in a hook or test");
    return state as Required<typeof state>;
  };
  return {
    get server() {
      return ready().server;
    },
    get sandbox() {
      return ready().sandbox;
    },
    get dir() {
      return ready().dir;
    },
  };
}
