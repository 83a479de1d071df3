import { readFile } from "node:fs/promises";
import { mintToken, SandboxError } from "@exedev-sandbox/core";
import type {
  PluginEnvironmentRunnerIngressEndpoint,
  PluginEnvironmentRunnerIngressEndpointParams,
} from "@paperclipai/plugin-sdk";
import { clientFor, type HookContext, leaseVm, vmGone } from "./hook-context.js";

/** How long a proxy token stays valid; Paperclip asks again for a new generation. */
const TOKEN_LIFETIME_S = 3600;
// exe.dev's proxy serves the VM's main port on 443 and ports 3000-9999 as themselves.
const MIN_EXTRA_PORT = 3000;
const MAX_EXTRA_PORT = 9999;

/**
 * A WebSocket address for a port inside the lease's VM, through exe.dev's HTTPS proxy, with a
 * short-lived VM proxy token (signed in process with the configured SSH key) as its secret header.
 */
export async function runnerIngressEndpoint(
  context: HookContext,
  params: PluginEnvironmentRunnerIngressEndpointParams,
): Promise<PluginEnvironmentRunnerIngressEndpoint> {
  const client = clientFor(context, params.config);
  const vmName = leaseVm(params.lease);
  const vm = await client.api.getVm(vmName);
  if (!vm) throw vmGone(vmName);
  if (!vm.httpsUrl) {
    throw new SandboxError(
      "unsupported",
      `exe.dev VM ${vmName} has no HTTPS address, so it cannot take runner connections.`,
      { details: { vm: vmName } },
    );
  }
  if (!params.path.startsWith("/"))
    throw new SandboxError("invalid_argument", "The runner ingress path must start with '/'.");
  const mainPort = vm.proxyPort;
  if (params.port !== mainPort && (params.port < MIN_EXTRA_PORT || params.port > MAX_EXTRA_PORT)) {
    throw new SandboxError(
      "invalid_argument",
      `exe.dev's proxy reaches the VM's main port and ports ${MIN_EXTRA_PORT}-${MAX_EXTRA_PORT} only, not ${params.port}.`,
    );
  }
  const key =
    client.ssh.privateKey ??
    (client.ssh.privateKeyPath ? await readFile(client.ssh.privateKeyPath, "utf8") : undefined);
  if (key === undefined) {
    throw new SandboxError(
      "invalid_argument",
      "Runner ingress needs privateKey or identityFile: the token for the VM's proxy is signed with it.",
    );
  }
  const url = new URL(vm.httpsUrl);
  const exp = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_S;
  const token = mintToken({ privateKey: key, namespace: `v0@${url.hostname}`, permissions: { exp } });
  url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  if (params.port !== mainPort) url.port = String(params.port);
  url.pathname = params.path;
  return {
    kind: "authenticated_websocket",
    websocketUrl: url.toString(),
    secretHeaders: [{ name: "X-Exedev-Authorization", value: `Bearer ${token}` }],
    generation: String(exp),
  };
}
