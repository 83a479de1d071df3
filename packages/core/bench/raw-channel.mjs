// The ceiling of one SSH connection for transfers: bytes streamed through one raw ssh2 exec
// channel, with no file protocol on top. Upload feeds `cat > /dev/null` as fast as the channel
// window allows; download reads `head -c` of /dev/zero (no compression is negotiated, so zeros
// cost what any bytes cost).
import { createHash } from "node:crypto";
import ssh2 from "ssh2";

const { Client } = ssh2;

/** Connects ssh2 with a sandbox's connect options (key auth, host key pinned by SHA-256). */
export function connectRaw(options) {
  const client = new Client();
  return new Promise((resolve, reject) => {
    client.once("ready", () => resolve(client));
    client.once("error", reject);
    client.connect({
      host: options.host,
      port: options.port,
      username: options.username,
      privateKey: options.privateKey,
      hostVerifier: (key) =>
        `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}` ===
        options.hostKey.sha256,
    });
  });
}

function execChannel(client, command) {
  return new Promise((resolve, reject) =>
    client.exec(command, (error, stream) => (error ? reject(error) : resolve(stream))),
  );
}

/** Streams `size` bytes into `cat > /dev/null`; resolves once the command has exited. */
export async function rawUpload(client, size) {
  const stream = await execChannel(client, "cat > /dev/null");
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  return new Promise((resolve, reject) => {
    let exitCode;
    stream.on("exit", (code) => {
      exitCode = code;
    });
    stream.once("close", () => (exitCode === 0 ? resolve() : reject(new Error(`cat exited ${exitCode}`))));
    stream.once("error", reject);
    stream.resume();
    stream.stderr.resume();
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const piece = size - sent >= chunk.length ? chunk : chunk.subarray(0, size - sent);
        sent += piece.length;
        if (!stream.write(piece)) {
          stream.once("drain", pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
}

/** Reads `size` bytes from `head -c`; resolves once all arrived and the channel closed. */
export async function rawDownload(client, size) {
  const stream = await execChannel(client, `head -c ${size} /dev/zero`);
  return new Promise((resolve, reject) => {
    let received = 0;
    stream.on("data", (chunk) => {
      received += chunk.length;
    });
    stream.stderr.resume();
    stream.once("error", reject);
    stream.once("close", () =>
      received === size ? resolve() : reject(new Error(`received ${received} of ${size} bytes`)),
    );
  });
}
