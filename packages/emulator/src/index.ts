export {
  type Emulator,
  type EmulatorFaultControls,
  type EmulatorFaults,
  type StartEmulatorOptions,
  startEmulator,
} from "./emulator.js";
