import ssh2 from "ssh2";

// ssh2 is CommonJS. Node's ESM loader detects only some of its named exports (`Client`, not
// `utils`), so `import { utils } from "ssh2"` breaks in built ESM. Take values from the default
// export (module.exports) instead; types still come from `import type`.

/** ssh2's `utils` (key parsing, SFTP constants). */
export const sshUtils: typeof ssh2.utils = ssh2.utils;
/** ssh2's `Client` class. */
export const SshClient: typeof ssh2.Client = ssh2.Client;
