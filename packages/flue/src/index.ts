// VM lifecycle from core, so Flue users need no second import: create, clone and wait until ready
// (createExeDevSandbox), delete (its dispose(), or createExeDevApi().removeVm), plain SSH
// (connectSandbox), and the error type of every failure other than SandboxDiedError.
export {
  type CloneVmOptions,
  connectSandbox,
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevApi,
  type ExeDevSandbox,
  type ExeDevSandboxOptions,
  isSandboxError,
  type NewVmOptions,
  SandboxError,
  type SandboxErrorCode,
  type VmInfo,
} from "@exedev-sandbox/core";
// Flue integration: the factory for useSandbox, the driver for sandboxFromDriver, teardown
export { createExeDevDriver } from "./exedev-driver.js";
export {
  CREATED_VM_TAG,
  type ExeDevFactoryOptions,
  type ExeDevSandboxFactory,
  exedev,
} from "./exedev-factory.js";
export { disposeExeDevSandboxes } from "./pool-registry.js";
