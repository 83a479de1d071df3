// The machine every adapter contract setup needs: a real sshd the adapter reaches through a TCP
// hop that `killMachine` cuts at once, and a direct core sandbox for checking what it did.
import { connectSandbox, type SshSandbox } from "@exedev-sandbox/core";
import { startForwarder } from "./forwarder.ts";
import { type SshdServer, type StartSshdOptions, startSshd } from "./sshd.ts";

/** The reconnect budget for sandboxes on a machine that is killed for good. */
export const MACHINE_GONE_RECONNECT_MS = 1_000;

/** A running {@link startKillableMachine}. */
export interface KillableMachine {
  server: SshdServer;
  /** Port of the hop: point the adapter here (the host is the server's). */
  port: number;
  /** A core sandbox connected straight to sshd, for checks that must not go through the adapter. */
  checker: SshSandbox;
  /**
   * The server's connect options, through the hop, with a 1 s `reconnectMs`: this machine only
   * ever goes away for good, so the sandbox reports `sandbox_died` within a second, not 60 s.
   */
  connectOptions(): ReturnType<SshdServer["connectOptions"]> & { reconnectMs: number };
  /** Cuts the hop and stops sshd: from then on nothing reaches the machine. */
  killMachine(): Promise<void>;
  /** Closes the checker, the hop and sshd. Safe after `killMachine`. */
  dispose(): Promise<void>;
}

/** Starts sshd (with `sshd` options), a hop in front of it, and a checker sandbox. */
export async function startKillableMachine(sshd: StartSshdOptions = {}): Promise<KillableMachine> {
  const server = await startSshd(sshd);
  const hop = await startForwarder(server);
  const checker = await connectSandbox(server.connectOptions());
  const killMachine = async (): Promise<void> => {
    await hop.kill();
    await server.stop();
  };
  return {
    server,
    port: hop.port,
    checker,
    connectOptions: () => ({
      ...server.connectOptions(),
      port: hop.port,
      reconnectMs: MACHINE_GONE_RECONNECT_MS,
    }),
    killMachine,
    dispose: async () => {
      await checker.close();
      await killMachine();
    },
  };
}
