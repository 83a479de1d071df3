// Test-only helpers that drive the real OpenSSH `ssh-keygen`; not exported from the package.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isSandboxError, type SandboxError } from "../errors.js";

/** A scratch directory removed by `cleanup`. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `exedev-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs ssh-keygen (or another program) and returns its exit status and output. */
export function run(
  program: string,
  args: string[],
  input?: string | Uint8Array,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(program, args, { input: input ?? "", encoding: "utf8" });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A key pair made by `ssh-keygen`. */
export interface KeyFiles {
  path: string;
  privateKey: string;
  /** OpenSSH one-line public key, with ssh-keygen's comment. */
  publicKey: string;
}

let counter = 0;

/** `ssh-keygen -t <type> [-b bits] -N <passphrase> [-m format] -f <new file>`. */
export function sshKeygenKey(
  dir: string,
  type: "ed25519" | "rsa" | "ecdsa",
  options: { bits?: number; passphrase?: string; format?: "PEM" | "PKCS8" } = {},
): KeyFiles {
  const path = join(dir, `key${++counter}_${type}`);
  const args = ["-q", "-t", type, "-N", options.passphrase ?? "", "-C", "test@example", "-f", path];
  if (options.bits) args.push("-b", String(options.bits));
  if (options.format) args.push("-m", options.format);
  const result = run("ssh-keygen", args);
  if (result.status !== 0) throw new Error(`ssh-keygen failed: ${result.stderr}`);
  return {
    path,
    privateKey: readFileSync(path, "utf8"),
    publicKey: readFileSync(`${path}.pub`, "utf8").trim(),
  };
}

/** The ASCII armor `ssh-keygen -Y` reads and writes: base64 wrapped at 70 columns. */
export function armor(blob: Uint8Array): string {
  const lines =
    Buffer.from(blob)
      .toString("base64")
      .match(/.{1,70}/g) ?? [];
  return `-----BEGIN SSH SIGNATURE-----\n${lines.join("\n")}\n-----END SSH SIGNATURE-----\n`;
}

/** The binary SSHSIG blob inside an armored signature. */
export function dearmor(text: string): Buffer {
  const lines = text.trim().split("\n");
  return Buffer.from(lines.slice(1, -1).join(""), "base64");
}

/** The SSHSIG blob of an exe0 token. */
export function tokenBlob(token: string): Buffer {
  return Buffer.from(token.split(".")[2] ?? "", "base64url");
}

/** The payload bytes of an exe0 token. */
export function tokenPayload(token: string): Buffer {
  return Buffer.from(token.split(".")[1] ?? "", "base64url");
}

/** `ssh-keygen -Y verify`: does OpenSSH accept `blob` as `publicKey`'s signature of `payload` under `namespace`? */
export function sshKeygenVerify(
  dir: string,
  payload: Uint8Array,
  blob: Uint8Array,
  publicKey: string,
  namespace: string,
): { ok: boolean; output: string } {
  const id = `signer${++counter}@example`;
  const signers = join(dir, `allowed_signers${counter}`);
  const signature = join(dir, `sig${counter}.armor`);
  const [type, base64] = publicKey.split(" ");
  writeFileSync(signers, `${id} namespaces="${namespace}" ${type} ${base64}\n`);
  writeFileSync(signature, armor(blob));
  const result = run(
    "ssh-keygen",
    ["-Y", "verify", "-f", signers, "-I", id, "-n", namespace, "-s", signature],
    payload,
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** `ssh-keygen -Y sign -f <key> -n <namespace>` over `payload`: returns the SSHSIG blob. */
export function sshKeygenSign(keyPath: string, payload: string, namespace: string): Buffer {
  const result = run("ssh-keygen", ["-q", "-Y", "sign", "-f", keyPath, "-n", namespace], payload);
  if (result.status !== 0) throw new Error(`ssh-keygen -Y sign failed: ${result.stderr}`);
  return dearmor(result.stdout);
}

/** An exe0 token assembled from a signature made by `ssh-keygen -Y sign`. */
export function sshKeygenToken(keyPath: string, payload: string, namespace = "v0@exe.dev"): string {
  const blob = sshKeygenSign(keyPath, payload, namespace);
  return `exe0.${Buffer.from(payload).toString("base64url")}.${blob.toString("base64url")}`;
}

/**
 * The documented shell recipe (exe.dev HTTPS API docs): sign with ssh-keygen, strip the armor
 * lines, delete newlines and padding, map `+/` to `-_`.
 */
export function shellRecipeToken(keyPath: string, payload: string, namespace = "v0@exe.dev"): string {
  const script = [
    "SIG=$(printf %s \"$PAYLOAD\" | ssh-keygen -q -Y sign -f \"$KEY\" -n \"$NS\" | sed '1d;$d' | tr -d '\\n=' | tr '+/' '-_')",
    "P64=$(printf %s \"$PAYLOAD\" | base64 -w0 | tr -d '=' | tr '+/' '-_')",
    'printf %s "exe0.$P64.$SIG"',
  ].join("\n");
  const result = spawnSync("bash", ["-c", script], {
    env: { ...process.env, PAYLOAD: payload, KEY: keyPath, NS: namespace },
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`shell recipe failed: ${result.stderr}`);
  return result.stdout;
}

/** The `SandboxError` that `fn` throws; fails the test when it throws something else or nothing. */
export function sandboxErrorOf(fn: () => unknown): SandboxError {
  try {
    fn();
  } catch (error) {
    if (isSandboxError(error)) return error;
    throw error;
  }
  throw new Error("expected a SandboxError, but nothing was thrown");
}

/** Every string an error exposes: message, details and cause. */
export function exposedText(error: SandboxError): string {
  return `${error.message} ${JSON.stringify(error.details)} ${String(error.cause ?? "")} ${error.stack ?? ""}`;
}
