import { validateVmName } from "../api/vm-name.js";
import { invalidArgument } from "../errors.js";
import { mintToken } from "./mint-token.js";
import { MAX_TIMESTAMP, MIN_TIMESTAMP, type TokenPermissions } from "./payload.js";

/** Options for {@link mintVmToken}. */
export interface MintVmTokenOptions {
  /**
   * The signing key (OpenSSH or PEM; Ed25519, RSA or ECDSA). Its public key must be registered on
   * the account that owns the VM, as for {@link mintToken}.
   */
  privateKey: string | Uint8Array;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /**
   * Expiry, in whole Unix seconds. exe.dev's VM tokens cannot be revoked except by removing the
   * key, so keep them short-lived.
   * @default now + 300 (5 minutes)
   */
  exp?: number;
  /** Not-before time, in whole Unix seconds. @default valid immediately */
  nbf?: number;
  /** Any JSON value; exe.dev hands it to the VM's app in the `X-ExeDev-Token-Ctx` header. @default none */
  ctx?: unknown;
}

const DEFAULT_TTL_SECONDS = 300;
const OPTION_NAMES: ReadonlySet<string> = new Set(["privateKey", "passphrase", "exp", "nbf", "ctx"]);

/** The SSHSIG namespace of a VM's proxy tokens: `v0@<vm>.exe.xyz` (exe-dev.md §4.5). */
export function vmTokenNamespace(vm: string): string {
  return `v0@${validateVmName(vm)}.exe.xyz`;
}

/**
 * Mints an exe0 token for one VM's HTTPS proxy, signed for the namespace `v0@<vm>.exe.xyz`: sent
 * as `X-Exedev-Authorization: Bearer <token>`, it reaches the VM's private ports as the key's
 * owner. A token for one VM is refused by every other VM. Runs in-process, like {@link mintToken}.
 *
 * @param vm - The VM's name (or `<vm>.exe.xyz`).
 * @throws SandboxError `invalid_argument` for a bad VM name, unknown options, an `exp`/`nbf` out
 * of exe.dev's range, an unreadable key or a wrong passphrase. Messages never hold key material.
 * @example
 * const token = mintVmToken("my-project-vm", { privateKey: readFileSync("id_ed25519", "utf8") });
 * await fetch("https://my-project-vm.exe.xyz/", { headers: { "X-Exedev-Authorization": `Bearer ${token}` } });
 */
export function mintVmToken(vm: string, options: MintVmTokenOptions): string {
  const namespace = vmTokenNamespace(vm);
  if (typeof options !== "object" || options === null) {
    throw invalidArgument("mintVmToken needs an options object with at least privateKey.");
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw invalidArgument(`mintVmToken does not take an option ${JSON.stringify(name.slice(0, 32))}.`);
    }
  }
  if (options.privateKey === undefined) throw invalidArgument("mintVmToken needs privateKey.");
  const exp = options.exp ?? Math.floor(Date.now() / 1000) + DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(exp) || exp < MIN_TIMESTAMP || exp > MAX_TIMESTAMP) {
    throw invalidArgument(
      `exp must be whole Unix seconds between ${MIN_TIMESTAMP} and ${MAX_TIMESTAMP}, e.g. Math.floor(Date.now() / 1000) + 300.`,
      { exp: options.exp },
    );
  }
  const permissions: TokenPermissions = { exp };
  if (options.nbf !== undefined) permissions.nbf = options.nbf;
  if (options.ctx !== undefined) permissions.ctx = options.ctx;
  return mintToken({
    privateKey: options.privateKey,
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    permissions,
    namespace,
  });
}
