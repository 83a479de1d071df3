export { type Emulator, type EmulatorFaults, type StartEmulatorOptions, startEmulator } from "./emulator.js";
