// Flue integration

// Lifecycle helpers from core, so Flue users need no second import: create / clone / wait until
// ready (createExeDevSandbox), delete (dispose(), or createExeDevApi().removeVm), plain SSH.
export {
  type CloneVmOptions,
  connectSandbox,
  createExeDevApi,
  createExeDevSandbox,
  type ExeDevSandbox,
  type ExeDevSandboxOptions,
  isSandboxError,
  type NewVmOptions,
  SandboxError,
  type VmInfo,
} from "@exedev-sandbox/core";
export { createExeDevDriver } from "./driver.js";
export { type ExeDevFactoryOptions, type ExeDevSandboxFactory, exedev } from "./factory.js";
