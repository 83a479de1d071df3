import type { Client } from "ssh2";
import { canSendIgnore, type PacketInternals, protocolOf, sendIgnore } from "./ssh2-ignore.js";

type GlobalRequestHandler = (
  protocol: unknown,
  name: unknown,
  wantReply: unknown,
  ...rest: unknown[]
) => void;

interface GlobalRequestInternals extends PacketInternals {
  _handlers: Record<string, GlobalRequestHandler | undefined>;
}

const HOSTKEYS_NOTICE = "hostkeys-00@openssh.com";

/**
 * sshd announces its host keys right after auth (`hostkeys-00@openssh.com`, no reply wanted).
 * ssh2 answers with a `hostkeys-prove-00` request, whose reply only feeds its `hostkeys` event,
 * which this library never uses (the host key policy checks the key of the key exchange). That
 * reply cost the first channel open a round trip: sshd keeps Nagle's algorithm on until the
 * first session starts, so a channel-open confirmation written behind the unacknowledged reply
 * waits for our (delayed) ACK. Instead the notice is answered with SSH_MSG_IGNORE, sent at the
 * moment the prove request would have gone: the server's data is acknowledged as promptly, and
 * it has nothing to answer (nor host keys to sign with). OpenSSH's own client ignores the notice
 * unless `UpdateHostKeys` is on.
 *
 * Call right after `connect()`. Leaves the client alone (ssh2 proves the keys as before) when
 * its internals are not as expected.
 *
 * @returns whether the client was changed
 */
export function skipHostKeyProofs(client: Client): boolean {
  const protocol = protocolOf<GlobalRequestInternals>(client);
  const handlers = protocol?._handlers;
  if (!protocol || typeof handlers !== "object" || handlers === null) return false;
  const onGlobalRequest = handlers.GLOBAL_REQUEST;
  if (typeof onGlobalRequest !== "function" || !canSendIgnore(protocol)) return false;
  handlers.GLOBAL_REQUEST = (self, name, wantReply, ...rest) => {
    if (name === HOSTKEYS_NOTICE && wantReply === false && sendIgnore(protocol)) return;
    onGlobalRequest(self, name, wantReply, ...rest);
  };
  return true;
}
