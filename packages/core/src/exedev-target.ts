import { isIP } from "node:net";
import type { VmInfo } from "./api/vm-info.js";
import { validateVmName } from "./api/vm-name.js";
import { invalidArgument } from "./errors.js";

/** Where to attach, read from the `vm` option (or `$EXE_VM_HOST`) before any I/O. */
export type AttachTarget =
  /** A bare VM name: looked up with the API when there is one, else `<name>.exe.xyz`. */
  | { kind: "name"; name: string }
  /** A host or `user@host`: dialled as given, no API involved. */
  | { kind: "host"; host: string; user?: string; name?: string }
  /** A VM record the caller already has. */
  | { kind: "record"; vm: VmInfo };

const HOST_SUFFIX = ".exe.xyz";
const MAX_HOST_LENGTH = 253;
// One DNS label: letters, digits, hyphens inside, and underscores (some internal names have them).
const HOST_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const USER_NAME = /^[^\s\0@]{1,256}$/;

/**
 * True for a DNS host name or an IP address: what may be dialled. Rules out paths (`../x`),
 * empty labels, spaces, NUL, URLs and ports, so that none of them reach a DNS lookup.
 */
export function isHostName(host: string): boolean {
  if (isIP(host) !== 0) return true;
  if (host.length === 0 || host.length > MAX_HOST_LENGTH) return false;
  const labels = (host.endsWith(".") ? host.slice(0, -1) : host).split(".");
  return labels.every((label) => HOST_LABEL.test(label));
}

function checkHost(host: unknown, what: string): string {
  if (typeof host !== "string" || !isHostName(host)) {
    throw invalidArgument(`${what} must be a host name or IP address (letters, digits, "-", "." only).`);
  }
  return host;
}

function checkRecord(vm: VmInfo): VmInfo {
  if (typeof vm.name !== "string" || vm.name === "")
    throw invalidArgument("vm.name must be a non-empty string.");
  checkHost(vm.sshHost, "vm.sshHost");
  if (
    vm.sshPort !== undefined &&
    (typeof vm.sshPort !== "number" || !Number.isInteger(vm.sshPort) || vm.sshPort < 1 || vm.sshPort > 65535)
  ) {
    throw invalidArgument("vm.sshPort must be a whole number from 1 to 65535.", { sshPort: vm.sshPort });
  }
  if (vm.sshUser !== undefined && (typeof vm.sshUser !== "string" || !USER_NAME.test(vm.sshUser))) {
    throw invalidArgument("vm.sshUser must be a non-empty user name without spaces.");
  }
  return vm;
}

/**
 * Reads an attach target: a VM name (`my-vm`), a host (`my-vm.exe.xyz`, `10.0.0.5`), an
 * `ssh_dest` (`vm+my-vm@exe.dev`) or a {@link VmInfo}. Everything is checked here, so that a
 * malformed target fails with `invalid_argument` before any request or DNS lookup.
 */
export function parseAttachTarget(vm: unknown, what = "vm"): AttachTarget {
  if (typeof vm === "object" && vm !== null && !Array.isArray(vm)) {
    return { kind: "record", vm: checkRecord(vm as VmInfo) };
  }
  if (typeof vm !== "string") {
    throw invalidArgument(`${what} must be a VM name, host, ssh_dest (user@host) or a VmInfo record.`);
  }
  const trimmed = vm.trim();
  if (trimmed === "" || /[\s\0]/.test(trimmed)) {
    throw invalidArgument(`${what} must be a VM name, host or ssh_dest without spaces.`);
  }
  const at = trimmed.lastIndexOf("@");
  if (at >= 0) {
    const user = trimmed.slice(0, at);
    const host = trimmed.slice(at + 1);
    if (!USER_NAME.test(user) || !isHostName(host)) {
      throw invalidArgument(`${what} is not a valid ssh_dest (user@host).`);
    }
    return { kind: "host", host, user, name: user.startsWith("vm+") ? user.slice(3) : undefined };
  }
  if (trimmed.includes(".") || trimmed.includes(":")) {
    const host = checkHost(trimmed, what);
    return {
      kind: "host",
      host,
      name: host.endsWith(HOST_SUFFIX) ? host.slice(0, -HOST_SUFFIX.length) : undefined,
    };
  }
  return { kind: "name", name: validateVmName(trimmed) };
}
