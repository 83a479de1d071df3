import { createPrivateKey, type KeyObject } from "node:crypto";
import { invalidArgument, type SandboxError } from "../errors.js";
import { sshUtils as utils } from "../ssh/ssh2-runtime.js";
import { type SshPublicKey, sshPublicKeyOf } from "./public-key.js";

/** A private key ready to sign, with its SSH public key. */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: SshPublicKey;
}

/** OpenSSH refuses smaller RSA keys (SSH_RSA_MINIMUM_MODULUS_SIZE), so the server's tooling would too. */
const MIN_RSA_BITS = 1024;

/** Checks the key options before anything is parsed or decrypted. */
export function checkPrivateKeyInput(privateKey: unknown, passphrase: unknown): string {
  if (passphrase !== undefined && typeof passphrase !== "string") {
    throw invalidArgument("passphrase must be a string.");
  }
  let text: string;
  if (typeof privateKey === "string") text = privateKey;
  else if (privateKey instanceof Uint8Array) text = Buffer.from(privateKey).toString("utf8");
  else
    throw invalidArgument("privateKey must be a string or Uint8Array holding an OpenSSH or PEM private key.");
  text = text.trim();
  if (text === "") throw invalidArgument("privateKey is empty.");
  return text;
}

// Messages below never include the library's own error text: some of it quotes parts of the key.
function unreadable(passphrase: string | undefined, encryptedWithoutPassphrase: boolean): SandboxError {
  if (encryptedWithoutPassphrase) {
    return invalidArgument("privateKey is encrypted; pass its passphrase in the passphrase option.");
  }
  if (passphrase !== undefined) {
    return invalidArgument("privateKey could not be decrypted or read; check the passphrase.");
  }
  return invalidArgument("privateKey could not be read as an OpenSSH or PEM private key.");
}

function loadOpenSsh(text: string, passphrase: string | undefined): KeyObject {
  const parsed = utils.parseKey(text, passphrase);
  if (parsed instanceof Error) {
    throw unreadable(passphrase, passphrase === undefined && /passphrase/i.test(parsed.message));
  }
  if (!parsed.isPrivateKey()) throw invalidArgument("privateKey holds only a public key.");
  const pem = parsed.getPrivatePEM();
  try {
    return createPrivateKey(pem);
  } catch {
    throw unreadable(passphrase, false);
  }
}

function loadPem(text: string, passphrase: string | undefined): KeyObject {
  try {
    return createPrivateKey(passphrase === undefined ? text : { key: text, format: "pem", passphrase });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // PKCS#8 reports a missing passphrase by code; OpenSSL's traditional PEM reader does not.
    const encrypted =
      code === "ERR_MISSING_PASSPHRASE" ||
      /^(-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED)/m.test(text);
    throw unreadable(passphrase, passphrase === undefined && encrypted);
  }
}

/**
 * Reads an OpenSSH (`BEGIN OPENSSH PRIVATE KEY`, possibly passphrase-protected) or PEM (PKCS#8,
 * PKCS#1, SEC1, possibly encrypted) private key. Throws `invalid_argument`.
 */
export function loadSigningKey(text: string, passphrase: string | undefined): SigningKey {
  let privateKey: KeyObject;
  if (text.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----")) {
    // Node cannot read this format; ssh2 decrypts it (bcrypt KDF) and hands back a PEM.
    privateKey = loadOpenSsh(text, passphrase);
  } else if (/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    privateKey = loadPem(text, passphrase);
  } else if (/^(ssh-|ecdsa-|sk-)/.test(text) || text.startsWith("-----BEGIN PUBLIC KEY-----")) {
    throw invalidArgument("privateKey holds a public key; pass the private key file's contents.");
  } else {
    throw invalidArgument(
      "privateKey must be an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----).",
    );
  }
  const publicKey = sshPublicKeyOf(privateKey, "privateKey");
  if (publicKey.rsaBits !== undefined && publicKey.rsaBits < MIN_RSA_BITS) {
    throw invalidArgument(
      `privateKey is a ${publicKey.rsaBits}-bit RSA key; OpenSSH requires at least ${MIN_RSA_BITS} bits.`,
    );
  }
  return { privateKey, publicKey };
}
