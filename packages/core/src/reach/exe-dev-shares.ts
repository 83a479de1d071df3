import type { ExeDevApi } from "../api/exe-dev-api.js";
import type { ExeDevShares } from "../reach.js";

/**
 * `sandbox.shares`: the API's `share` commands for one VM. `onPort` hears the proxy port that
 * `show` reports and `setPort` sets, so that `url()` follows it.
 */
export function createExeDevShares(
  api: () => ExeDevApi,
  vm: string,
  onPort: (port: number) => void,
): ExeDevShares {
  return {
    async show() {
      const status = await api().shareShow(vm);
      onPort(status.port);
      return status;
    },
    setPublic: () => api().shareSetPublic(vm),
    setPrivate: () => api().shareSetPrivate(vm),
    async setPort(port) {
      const result = await api().sharePort(vm, port);
      onPort(result.port);
    },
    addUser: (email) => api().shareAdd(vm, email),
    removeUser: (email) => api().shareRemove(vm, email),
    addLink: () => api().shareAddLink(vm),
    removeLink: (id) => api().shareRemoveLink(vm, id),
  };
}
