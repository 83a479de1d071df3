import type { VmRecord } from "../state-store.js";
import type { GatewayHandle } from "./command.js";

/**
 * The port a VM's "HTTPS URL" points at: exeuntu's proxy port. The emulator has no proxy; a
 * VM's processes are local processes, so whatever listens on this port is reached directly.
 */
export const PROXY_PORT = 8000;

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
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
    https_url: `http://${urlHost(gateway.host)}:${PROXY_PORT}`,
    proxy_port: PROXY_PORT,
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
    https_url: `http://${urlHost(gateway.host)}:${PROXY_PORT}`,
    ...(vm.image === "exeuntu" ? {} : { image: vm.image }),
    ...(vm.tags.length > 0 ? { tags: vm.tags } : {}),
    ...(vm.comment ? { comment: vm.comment } : {}),
    created_at: vm.createdAt,
    disk_capacity_bytes: vm.diskBytes,
    memory_capacity_bytes: vm.memoryBytes,
    allocated_cpus: vm.cpus,
  };
}
