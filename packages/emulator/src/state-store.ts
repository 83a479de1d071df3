import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One VM: a workspace directory plus what `new` was told. */
export interface VmRecord {
  name: string;
  tags: string[];
  comment?: string;
  image: string;
  env: Record<string, string>;
  createdAt: string;
}

/** A public key allowed to log in over SSH and to sign API tokens. */
export interface KeyRecord {
  publicKey: string;
  fingerprint: string;
  name: string;
  addedAt: string;
  lastUsedAt?: string;
}

interface StateFile {
  vms: Record<string, VmRecord>;
  keys: KeyRecord[];
}

/** The emulator's state, kept in `dataDir/state.json` so that it survives a restart. */
export class StateStore {
  private state: StateFile;
  private readonly file: string;

  constructor(readonly dataDir: string) {
    mkdirSync(join(dataDir, "vms"), { recursive: true });
    this.file = join(dataDir, "state.json");
    this.state = existsSync(this.file)
      ? (JSON.parse(readFileSync(this.file, "utf8")) as StateFile)
      : { vms: {}, keys: [] };
  }

  /** The directory a VM's commands run in (its HOME). */
  workspace(name: string): string {
    return join(this.dataDir, "vms", name);
  }

  vm(name: string): VmRecord | undefined {
    return this.state.vms[name];
  }

  vms(): VmRecord[] {
    return Object.values(this.state.vms).sort((a, b) => a.name.localeCompare(b.name));
  }

  putVm(vm: VmRecord): void {
    this.state.vms[vm.name] = vm;
    this.save();
  }

  deleteVm(name: string): void {
    delete this.state.vms[name];
    this.save();
  }

  keys(): KeyRecord[] {
    return this.state.keys;
  }

  keyByFingerprint(fingerprint: string): KeyRecord | undefined {
    return this.state.keys.find((key) => key.fingerprint === fingerprint);
  }

  addKey(key: KeyRecord): void {
    if (this.keyByFingerprint(key.fingerprint)) return;
    this.state.keys.push(key);
    this.save();
  }

  touchKey(fingerprint: string): void {
    const key = this.keyByFingerprint(fingerprint);
    if (key) key.lastUsedAt = new Date().toISOString();
  }

  private save(): void {
    const temp = `${this.file}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.state, null, 2)}\n`);
    renameSync(temp, this.file);
  }
}
