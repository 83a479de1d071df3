/**
 * Types for reaching what runs in the VM: port forwards over SSH, local ports exposed to the VM,
 * exe.dev's proxy URLs and sharing. The SSH sandboxes implement {@link PortForwarding}; exe.dev
 * sandboxes add {@link ExeDevReach}.
 */

/** Options for {@link PortForwarding.forwardPort}. */
export interface ForwardPortOptions {
  /** The local port to listen on (on 127.0.0.1); 0 picks a free one. @default 0 */
  localPort?: number;
  /** Aborting before the listener is up rejects with `aborted`. @default no signal */
  signal?: AbortSignal;
}

/** A local listener whose connections are carried to a port on the VM. */
export interface PortForward {
  /** The port it listens on, on 127.0.0.1. */
  readonly localPort: number;
  /** The VM port connections go to (on the VM's 127.0.0.1). */
  readonly remotePort: number;
  /** `http://127.0.0.1:<localPort>/`: what a local browser or test runner opens. */
  readonly url: string;
  /** Stops listening and closes every connection it carries. Safe to call again. */
  close(): Promise<void>;
}

/** Options for {@link PortForwarding.exposeLocalPort}. */
export interface ExposeLocalPortOptions {
  /** The VM port (on the VM's 127.0.0.1) that reaches the local service; 0 lets the server pick. @default the same number as `localPort` */
  remotePort?: number;
  /** The local host the VM's connections go to. @default "127.0.0.1" */
  localHost?: string;
  /** Aborting before the server accepted the forward rejects with `aborted`. @default no signal */
  signal?: AbortSignal;
}

/** A port on the VM whose connections are carried to a local service. */
export interface ExposedPort {
  /** The local port connections go to. */
  readonly localPort: number;
  /** The VM port that reaches it (on the VM's 127.0.0.1). */
  readonly remotePort: number;
  /** Stops the forward on the server and closes the connections it carries. Safe to call again. */
  close(): Promise<void>;
}

/** Port forwarding over an SSH connection (direct-tcpip and tcpip-forward). */
export interface PortForwarding {
  /**
   * Listens on 127.0.0.1 and carries each connection to `remotePort` on the VM over the
   * sandbox's SSH connection, so a local browser, test runner or Playwright reaches a server in
   * the VM without making it public. Closed with the sandbox.
   */
  forwardPort(remotePort: number, options?: ForwardPortOptions): Promise<PortForward>;
  /** The reverse: a port on the VM whose connections reach `localPort` here (a remote forward). */
  exposeLocalPort(localPort: number, options?: ExposeLocalPortOptions): Promise<ExposedPort>;
}

/** Options for {@link ExeDevReach.fetch}. */
export interface SandboxFetchInit extends RequestInit {
  /** How long the minted VM token is valid. @default 300000 (5 minutes) */
  tokenTtlMs?: number;
}

/** What exe.dev's `share show` reports about a VM. */
export interface ShareStatus {
  /** The VM. */
  vm: string;
  /** `"public"` or `"private"` (the main port's access). */
  status: "public" | "private";
  /** The proxy port the main URL reaches. */
  port: number;
  /** The main URL. */
  url: string;
  /** Emails the VM is shared with. */
  users: string[];
  /** Share links (their URLs or tokens, as exe.dev lists them). */
  links: ShareLink[];
}

/** A share link of a VM. */
export interface ShareLink {
  /** The link's id, as `share remove-link` takes it. */
  id: string;
  /** The URL to hand out. */
  url: string;
}

/** exe.dev's proxy and sharing, for one VM (see exe-dev.md §5.6). */
export interface ExeDevShares {
  /** The VM's sharing state. */
  show(): Promise<ShareStatus>;
  /** Makes the main port public (anyone with the URL). */
  setPublic(): Promise<void>;
  /** Makes the main port private again (owner and shares only). */
  setPrivate(): Promise<void>;
  /** Sets the proxy port the main URL reaches. */
  setPort(port: number): Promise<void>;
  /** Shares the VM with an email address. */
  addUser(email: string): Promise<void>;
  /** Stops sharing with an email address. */
  removeUser(email: string): Promise<void>;
  /** Creates a share link. */
  addLink(): Promise<ShareLink>;
  /** Removes a share link (users it already admitted keep access, as on exe.dev). */
  removeLink(id: string): Promise<void>;
}

/** What an exe.dev sandbox adds for reaching the VM's ports. */
export interface ExeDevReach {
  /**
   * The public URL of `port`, by exe.dev's rules: the proxy port at the bare host
   * (`https://<vm>.exe.xyz/`), 3000–9999 on their own port (`https://<vm>.exe.xyz:<port>/`);
   * any other port is `invalid_argument`. Without `port`, the main URL.
   */
  url(port?: number): string;
  /**
   * A `fetch` to `port` through exe.dev's proxy, authenticated as the VM's owner with a
   * short-lived VM-scoped token minted locally (never shown in errors). Reaches private ports.
   */
  fetch(port: number, path: string, init?: SandboxFetchInit): Promise<Response>;
  /** The VM's sharing, over the API. */
  readonly shares: ExeDevShares;
}
