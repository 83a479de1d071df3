import type { Client } from "ssh2";
import { canSendIgnore, type PacketInternals, protocolOf, sendIgnore } from "./ssh2-ignore.js";

/** ssh2's signing callback: gets the data to sign, hands the signature to `send`. */
type SignCallback = (data: Buffer, send: (signature: Buffer) => void) => void;

/** The parts of a key parsed by ssh2 (`utils.parseKey`) that signing needs. */
interface ParsedKey {
  type: string;
  isPrivateKey(): boolean;
  sign(data: Buffer, hashAlgo?: string): Buffer | Error;
}

type MessageHandler = (protocol: unknown, ...args: unknown[]) => void;

/** The parts of ssh2's (1.x) client-side `Protocol` this module wraps or uses. */
interface ProtocolInternals extends PacketInternals {
  authPK(username: string, key: unknown, keyAlgo?: string | SignCallback, cbSign?: SignCallback): void;
  service(name: string): void;
  _handlers: Record<string, MessageHandler | undefined>;
}

/**
 * The hash ssh2 signs with for `keyAlgo`, as its `USERAUTH_PK_OK` handler would choose it (ssh2's
 * `getKeyAlgos` pairs each RSA algorithm with its hash; other key types sign with their own).
 * `null` for a pairing we do not know, which then takes ssh2's own path.
 */
function hashFor(keyType: string, keyAlgo: string | undefined): string | undefined | null {
  if (keyType === "ssh-rsa") {
    if (keyAlgo === undefined || keyAlgo === "ssh-rsa") return "sha1";
    if (keyAlgo === "rsa-sha2-256") return "sha256";
    if (keyAlgo === "rsa-sha2-512") return "sha512";
    return null;
  }
  return keyAlgo === undefined || keyAlgo === keyType ? undefined : null;
}

function isPrivateKey(key: unknown): key is ParsedKey {
  const candidate = key as Partial<ParsedKey> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    typeof candidate.type === "string" &&
    typeof candidate.sign === "function" &&
    typeof candidate.isPrivateKey === "function" &&
    candidate.isPrivateKey() === true
  );
}

function authInternalsOf(client: Client): ProtocolInternals | undefined {
  const protocol = protocolOf<ProtocolInternals>(client);
  if (
    typeof protocol?.authPK !== "function" ||
    protocol.authPK.length !== 4 ||
    typeof protocol.service !== "function" ||
    typeof protocol._handlers !== "object" ||
    protocol._handlers === null ||
    typeof protocol._handlers.SERVICE_ACCEPT !== "function" ||
    typeof protocol._handlers.EXT_INFO !== "function" ||
    !canSendIgnore(protocol)
  ) {
    return undefined;
  }
  return protocol as ProtocolInternals;
}

/**
 * Publickey auth with a key we hold is signed at once. ssh2 first asks whether the server would
 * take the key (a request without signature, answered by `USERAUTH_PK_OK`) and only then signs:
 * a round trip per connect that buys nothing for a key in memory (OpenSSH queries first so that
 * an agent or a passphrase prompt is not bothered for a key the server refuses). A key the server
 * refuses gets `USERAUTH_FAILURE` either way, which ssh2 handles as before: the next algorithm
 * for an RSA key, then the next credential. Agent keys keep the query (the agent may ask its user
 * to confirm each signature).
 */
function signAtOnce(protocol: ProtocolInternals): void {
  const authPK = protocol.authPK;
  protocol.authPK = function (this: ProtocolInternals, username, key, keyAlgo, cbSign) {
    if (cbSign === undefined && typeof keyAlgo !== "function" && isPrivateKey(key)) {
      const hashAlgo = hashFor(key.type, keyAlgo);
      if (hashAlgo !== null) {
        let sent = false;
        try {
          authPK.call(this, username, key, keyAlgo, (data, send) => {
            const signature = key.sign(data, hashAlgo);
            // Nothing was sent yet: the query below lets ssh2 report the failure its own way.
            if (signature instanceof Error) return;
            send(signature);
            sent = true;
          });
        } catch {
          // Only signature conversion throws, before anything is written: take ssh2's path.
        }
        if (sent) return;
      }
    }
    authPK.call(this, username, key, keyAlgo, cbSign);
  };
}

/**
 * The first auth request goes out right behind `SERVICE_REQUEST` instead of waiting a round trip
 * for `SERVICE_ACCEPT`: servers handle a connection's messages in order (OpenSSH, Dropbear,
 * asyncssh, ssh2 and Go's x/crypto all read the service request, answer it, then read auth), so
 * the request finds the service accepted. It waits for the server's `EXT_INFO`, which servers
 * send right after their `NEWKEYS`, ahead of `SERVICE_ACCEPT`: its `server-sig-algs` pick the
 * RSA signature algorithm, so the choice is the one ssh2 makes today. A server that sends no
 * `EXT_INFO` there gets today's order: auth starts on `SERVICE_ACCEPT`.
 *
 * sshd has Nagle's algorithm on until the first session starts, so its answer to the auth
 * request, written right after `SERVICE_ACCEPT`, waits until that segment is acknowledged, and a
 * client with nothing to send acknowledges late (delayed ACK: 40 ms on Linux, more elsewhere),
 * which would cost more than the round trip saved. So the client answers `SERVICE_ACCEPT` with
 * an `SSH_MSG_IGNORE` (which every server must accept at any time): the acknowledgement rides on
 * it at once, and sshd's answer is no later than without pipelining.
 */
function authBehindServiceRequest(protocol: ProtocolInternals): void {
  const handlers = protocol._handlers;
  const onServiceAccept = handlers.SERVICE_ACCEPT as MessageHandler;
  const onExtInfo = handlers.EXT_INFO as MessageHandler;
  const service = protocol.service;
  let requested = false;
  let sawExtInfo = false;
  let started = false;
  // ssh2's SERVICE_ACCEPT handler is what starts auth (its first authHandler call).
  const startAuth = (): void => {
    if (started) return;
    started = true;
    onServiceAccept(protocol, "ssh-userauth");
  };
  handlers.SERVICE_ACCEPT = (self, name, ...rest) => {
    if (name !== "ssh-userauth") {
      onServiceAccept(self, name, ...rest);
      return;
    }
    if (started) sendIgnore(protocol);
    startAuth();
  };
  handlers.EXT_INFO = (self, ...args) => {
    onExtInfo(self, ...args);
    if (sawExtInfo) return;
    sawExtInfo = true;
    if (requested) startAuth();
  };
  protocol.service = function (this: ProtocolInternals, name) {
    service.call(this, name);
    if (name !== "ssh-userauth") return;
    requested = true;
    if (sawExtInfo) startAuth();
  };
}

/**
 * Cuts the auth round trips of a client whose `connect()` was just called (before any byte was
 * read): auth starts behind the service request, and keys we hold are signed without asking the
 * server first: auth takes one round trip instead of three (two on sshd, whose Nagle holds the
 * answer until `SERVICE_ACCEPT` is acknowledged).
 * Both rely on ssh2 1.x internals; when they are not what this expects (a future ssh2), the
 * client is left alone, as correct as before and a round trip or two slower.
 *
 * @returns whether the client was changed
 */
export function enableDirectAuth(client: Client): boolean {
  const protocol = authInternalsOf(client);
  if (!protocol) return false;
  signAtOnce(protocol);
  authBehindServiceRequest(protocol);
  return true;
}
