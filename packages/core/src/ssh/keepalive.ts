import type { Socket } from "node:net";
import type { Client } from "ssh2";

/** The parts of ssh2's Client (1.x) that its own keepalive uses: the global-request reply queue. */
interface ClientInternals {
  _callbacks?: Array<(failed: boolean) => void>;
  _protocol?: { ping(): void };
}

/**
 * Whether {@link startKeepalive} can probe this (not yet connected) client. When it cannot (an
 * ssh2 whose internals changed), pass the interval to ssh2's own keepalive instead.
 */
export function canProbeKeepalive(client: Client): boolean {
  return Object.hasOwn(client, "_callbacks") && Object.hasOwn(client, "_protocol");
}

/**
 * SSH keepalive probes (`keepalive@openssh.com`, as ssh2 and OpenSSH send them) on a timer that
 * never keeps the process alive: ssh2's own keepalive runs on a ref'd interval, so an idle,
 * unclosed sandbox would keep a script running forever. When `countMax` probes in a row go
 * unanswered the socket is destroyed, and the client's `close` reports the loss.
 *
 * Returns a function that stops the probes (a no-op when the connected client lacks the internals).
 */
export function startKeepalive(
  client: Client,
  socket: Socket,
  intervalMs: number,
  countMax: number,
): () => void {
  const internals = client as unknown as ClientInternals;
  if (!Array.isArray(internals._callbacks) || typeof internals._protocol?.ping !== "function") {
    return () => {};
  }
  let unanswered = 0;
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    if (unanswered >= countMax) {
      stop();
      socket.destroy();
      return;
    }
    unanswered++;
    // A reply, success or failure, proves the server is alive. ssh2 answers replies in request
    // order from this queue, so the callback goes in just before the request, as ssh2 does.
    internals._callbacks?.push(() => {
      unanswered = 0;
    });
    internals._protocol?.ping();
  }, intervalMs);
  timer.unref();
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
