import { invalidArgument } from "../errors.js";

/** The proxy port of exe.dev's default image (exeuntu), used when the VM record does not say. */
export const DEFAULT_PROXY_PORT = 8000;
/** The ports exe.dev serves on their own port of the VM's host, besides the proxy port. */
export const PORT_URL_RANGE = { min: 3000, max: 9999 } as const;

/** What the URL rules need to know about a VM. */
export interface VmUrlTarget {
  /** The VM's name. */
  name: string;
  /** The VM's main URL as the API sent it (`https_url`). */
  httpsUrl?: string;
  /** The port the main URL reaches. @default 8000 */
  proxyPort?: number;
}

function isExeXyz(hostname: string): boolean {
  return hostname === "exe.xyz" || hostname.endsWith(".exe.xyz");
}

function mainUrl(vm: VmUrlTarget): URL {
  if (vm.httpsUrl !== undefined) {
    try {
      const url = new URL(vm.httpsUrl);
      if (url.protocol === "https:" || url.protocol === "http:") return url;
    } catch {
      // A record without a usable URL still has exe.dev's documented host.
    }
  }
  return new URL(`https://${vm.name}.exe.xyz/`);
}

/**
 * The URL of a VM's port, by exe.dev's rules (exe-dev.md §5.6): the proxy port at the bare host
 * (`https://<vm>.exe.xyz/`), ports 3000–9999 at `https://<vm>.exe.xyz:<port>/`, no other port.
 * For the emulator (a main URL not under exe.xyz, e.g. `http://<vm>.localhost:<P>/`) the same
 * rules in its form: other ports at `http://<port>.<vm>.localhost:<P>/`.
 *
 * @throws SandboxError `invalid_argument` for a port that is not a whole number from 1 to 65535,
 * or one that has no URL (not the proxy port, not 3000–9999), with the rule in the message.
 */
export function vmUrl(vm: VmUrlTarget, port?: number): string {
  const proxyPort = vm.proxyPort ?? DEFAULT_PROXY_PORT;
  if (
    port !== undefined &&
    (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
  ) {
    throw invalidArgument("port must be a whole number from 1 to 65535.", { port });
  }
  const main = mainUrl(vm);
  const exeDev = isExeXyz(main.hostname);
  const origin = exeDev ? `https://${main.hostname}` : `${main.protocol}//${main.host}`;
  if (port === undefined || port === proxyPort) return `${origin}/`;
  if (port < PORT_URL_RANGE.min || port > PORT_URL_RANGE.max) {
    throw invalidArgument(
      `Port ${port} has no URL: exe.dev serves the proxy port (${proxyPort}) at ${origin}/ and ports ` +
        `${PORT_URL_RANGE.min}–${PORT_URL_RANGE.max} on their own port; use one of those, make ${port} ` +
        "the proxy port (shares.setPort), or reach it with forwardPort.",
      { port, proxyPort },
    );
  }
  return exeDev ? `https://${main.hostname}:${port}/` : `${main.protocol}//${port}.${main.host}/`;
}
