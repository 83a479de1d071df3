// Child process of the benchmarks: the testing kit's forwarder as a latency hop, alone on its
// event loop. Arguments: target host, target port, delay per direction in ms. Prints
// `{"host","port"}` once listening and forwards until killed.
import { startForwarder } from "../../testing/src/forwarder.ts";

const [host, port, delayMs] = process.argv.slice(2);
const hop = await startForwarder({ host, port: Number(port) }, { delayMs: Number(delayMs) });
process.stdout.write(`${JSON.stringify({ host: hop.host, port: hop.port })}\n`);
process.on("SIGTERM", () => hop.kill().then(() => process.exit(0)));
