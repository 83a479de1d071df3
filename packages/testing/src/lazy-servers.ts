import { afterAll } from "vitest";
import { type StartAsyncsshServerOptions, startAsyncsshServer } from "./asyncssh-server.ts";
import { type DropbearServer, type StartDropbearOptions, startDropbear } from "./dropbear.ts";
import type { SshdServer } from "./sshd.ts";

/** A server started on first use and stopped after the enclosing suite (see `useSshd`). */
function lazily<Server extends { stop(): Promise<void> }>(
  start: () => Promise<Server>,
): () => Promise<Server> {
  let started: Promise<Server> | undefined;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => {
    started ??= start();
    return started;
  };
}

/** A Dropbear started on first use and stopped after the enclosing suite. */
export function useDropbear(options: StartDropbearOptions = {}): () => Promise<DropbearServer> {
  return lazily(() => startDropbear(options));
}

/** An asyncssh server started on first use and stopped after the enclosing suite. */
export function useAsyncsshServer(options: StartAsyncsshServerOptions = {}): () => Promise<SshdServer> {
  return lazily(() => startAsyncsshServer(options));
}
