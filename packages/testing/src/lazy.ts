import { afterAll } from "vitest";
import { type SshdServer, type StartSshdOptions, startSshd } from "./sshd.ts";

/**
 * An sshd started on first use and stopped after the enclosing suite. Lets contract suites,
 * which are registered before any hook runs, name a server that does not exist yet.
 */
export function useSshd(options: StartSshdOptions = {}): () => Promise<SshdServer> {
  let started: Promise<SshdServer> | undefined;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => {
    started ??= startSshd(options);
    return started;
  };
}
