import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxError } from "@exedev-sandbox/core";

/** One VM: a workspace directory plus what `new` (or `cp`) was told. */
export interface VmRecord {
  name: string;
  /** Sorted, without duplicates. */
  tags: string[];
  comment?: string;
  image: string;
  command: string;
  cpus: number;
  memoryBytes: number;
  diskBytes: number;
  /** From `--env`; every command run in the VM gets these. */
  env: Record<string, string>;
  /** RFC 3339. */
  createdAt: string;
  /** The proxy route and shares (`share …`); absent means private on port 8000, shared with nobody. */
  share?: ShareRecord;
}

/** A VM's proxy route and shares, as `share show` reports them. */
export interface ShareRecord {
  /** The port the main URL reaches. */
  port: number;
  /** Whether the main port is open to anyone. */
  public: boolean;
  /** Emails the VM is shared with. */
  users: string[];
  /** Share links, by token. */
  links: Array<{ token: string; createdAt: string }>;
}

/** A public key allowed to log in over SSH and to sign API tokens. */
export interface KeyRecord {
  /** OpenSSH one-line form, without comment. */
  publicKey: string;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  name: string;
  addedAt: string;
  lastUsedAt?: string;
}

interface StateFile {
  version: 1;
  vms: Record<string, VmRecord>;
  keys: KeyRecord[];
}

/**
 * The emulator's state in `dataDir/state.json`, so that VMs and keys survive a restart. Each
 * change is written to a temporary file and renamed over the old one, so a crash never leaves
 * half a file.
 */
export class StateStore {
  private readonly file: string;
  private state: StateFile;
  private dirty = false;

  constructor(readonly dataDir: string) {
    mkdirSync(join(dataDir, "vms"), { recursive: true });
    this.file = join(dataDir, "state.json");
    this.state = existsSync(this.file) ? this.load() : { version: 1, vms: {}, keys: [] };
  }

  /** The directory a VM's commands run in: its HOME. */
  workspace(name: string): string {
    return join(this.dataDir, "vms", name);
  }

  vm(name: string): VmRecord | undefined {
    return Object.hasOwn(this.state.vms, name) ? this.state.vms[name] : undefined;
  }

  /** Oldest first, as exe.dev lists them. */
  vms(): VmRecord[] {
    return Object.values(this.state.vms).sort(
      (a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name),
    );
  }

  putVm(vm: VmRecord): void {
    this.state.vms[vm.name] = vm;
    this.save();
  }

  deleteVm(name: string): void {
    delete this.state.vms[name];
    this.save();
  }

  keys(): readonly KeyRecord[] {
    return this.state.keys;
  }

  keyByFingerprint(fingerprint: string): KeyRecord | undefined {
    return this.state.keys.find((key) => key.fingerprint === fingerprint);
  }

  /** Adds a key unless one with the same fingerprint is there; returns the stored record. */
  addKey(key: KeyRecord): KeyRecord {
    const existing = this.keyByFingerprint(key.fingerprint);
    if (existing) return existing;
    this.state.keys.push(key);
    this.save();
    return key;
  }

  /** Notes a key's use; written with the next change or {@link flush}, not on every request. */
  touchKey(fingerprint: string): void {
    const key = this.keyByFingerprint(fingerprint);
    if (!key) return;
    key.lastUsedAt = new Date().toISOString();
    this.dirty = true;
  }

  /** Writes pending changes (key use times). */
  flush(): void {
    if (this.dirty) this.save();
  }

  private load(): StateFile {
    try {
      const parsed = JSON.parse(readFileSync(this.file, "utf8")) as Partial<StateFile>;
      if (typeof parsed !== "object" || parsed === null || typeof parsed.vms !== "object") throw new Error();
      return { version: 1, vms: parsed.vms ?? {}, keys: Array.isArray(parsed.keys) ? parsed.keys : [] };
    } catch (error) {
      throw new SandboxError(
        "invalid_argument",
        `The emulator's state file ${this.file} is not valid; move it away to start afresh.`,
        { cause: error, details: { path: this.file } },
      );
    }
  }

  private save(): void {
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.file);
    this.dirty = false;
  }
}
