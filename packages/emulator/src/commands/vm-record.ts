import type { ShareRecord, VmRecord } from "../state-store.js";
import type { GatewayHandle } from "./command.js";

/** The proxy port of a VM nobody has set one for: exeuntu's. */
export const PROXY_PORT = 8000;

/** A VM's proxy route and shares, with exe.dev's defaults (private, port 8000, nobody). */
export function shareOf(vm: VmRecord): ShareRecord {
  return vm.share ?? { port: PROXY_PORT, public: false, users: [], links: [] };
}

/**
 * A VM's main URL on the emulator's HTTP proxy: `http://<vm>.localhost:<proxy port>/` (browsers
 * and curl resolve `*.localhost` to loopback). Other ports are `http://<port>.<vm>.localhost:…/`.
 */
export function vmHttpsUrl(vm: VmRecord, gateway: GatewayHandle): string {
  return `http://${vm.name}.localhost:${gateway.httpProxyPort}/`;
}

function sshFields(vm: VmRecord, gateway: GatewayHandle) {
  const user = `vm+${vm.name}`;
  return {
    ssh_dest: `${user}@${gateway.host}`,
    ssh_host: gateway.host,
    ssh_user: user,
    ssh_port: gateway.port,
  };
}

/** The answer of `new` and `cp`: exe.dev's `newBoxDetails`, pointing at the SSH gateway. */
export function describeNewVm(vm: VmRecord, gateway: GatewayHandle): Record<string, unknown> {
  const ssh = sshFields(vm, gateway);
  return {
    vm_name: vm.name,
    tags: vm.tags,
    ssh_command: `ssh -p ${gateway.port} ${ssh.ssh_dest}`,
    ...ssh,
    https_url: vmHttpsUrl(vm, gateway),
    proxy_port: shareOf(vm).port,
  };
}

/** One entry of `ls`. */
export function describeListedVm(vm: VmRecord, gateway: GatewayHandle): Record<string, unknown> {
  return {
    vm_name: vm.name,
    ...sshFields(vm, gateway),
    status: "running",
    region: "local",
    region_display: "Local emulator",
    https_url: vmHttpsUrl(vm, gateway),
    ...(vm.image === "exeuntu" ? {} : { image: vm.image }),
    ...(vm.tags.length > 0 ? { tags: vm.tags } : {}),
    ...(vm.comment ? { comment: vm.comment } : {}),
    created_at: vm.createdAt,
    disk_capacity_bytes: vm.diskBytes,
    memory_capacity_bytes: vm.memoryBytes,
    allocated_cpus: vm.cpus,
  };
}
