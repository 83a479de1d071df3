import { z } from "zod";
import type { Sandbox } from "../sandbox.js";
import { shellQuote } from "../ssh/shell-quote.js";
import { checkedTool } from "./checked-tool.js";
import { errorResult, type ToolSpec, toolError } from "./tool-spec.js";

/** How long the probe inside the VM waits for an answer. */
const PROBE_TIMEOUT_S = 5;

/** Input of the `previewUrl` tool. */
export interface PreviewUrlToolInput {
  port: number;
  path?: string | undefined;
}

const inputSchema: z.ZodType<PreviewUrlToolInput> = z.object({
  port: z
    .number()
    .int()
    .min(1)
    .max(65_535)
    .describe("The port the server listens on inside the machine, e.g. 8000 or 3000."),
  path: z
    .string()
    .regex(/^\/[^\s]*$/, "must start with / and hold no spaces")
    .optional()
    .describe("A path to check and to put in the URL, e.g. /health. Defaults to /."),
});

/** Structured output of the `previewUrl` tool. */
export interface PreviewUrlToolOutput {
  /** The public URL of the port (and path). */
  url: string;
  /** Whether something inside the machine answered HTTP on the port. */
  answers: boolean;
  /** The HTTP status it answered with, when it did. */
  status?: number;
}

/** A sandbox whose ports have public URLs (exe.dev's, or the emulator's). */
interface WithUrls {
  url(port?: number): string;
}

function hasUrls(sandbox: Sandbox): sandbox is Sandbox & WithUrls {
  return typeof (sandbox as Partial<WithUrls>).url === "function";
}

// Asked from inside the machine, so the answer does not depend on sharing or tokens: curl
// gives the status (000 and exit 7 when nothing listens); without curl, bash's /dev/tcp tells
// at least whether the port accepts connections.
const PROBE = [
  'if command -v curl >/dev/null 2>&1; then code=$(curl -s -o /dev/null -m "$3" -w "%{http_code}" "http://127.0.0.1:$1$2"); echo "curl $? $code";',
  'elif command -v bash >/dev/null 2>&1; then if bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then echo "tcp open"; else echo "tcp closed"; fi;',
  'else echo "none"; fi',
].join(" ");

interface Probe {
  answers: boolean;
  status?: number;
  says: string;
}

function readProbe(port: number, stdout: string): Probe {
  const [kind, first, second] = stdout.trim().split(/\s+/);
  const where = `http://127.0.0.1:${port}/ inside the machine`;
  if (kind === "curl") {
    const status = Number(second);
    if (first === "0" && status > 0)
      return { answers: true, status, says: `${where} answers with HTTP ${status}.` };
    if (first === "7")
      return {
        answers: false,
        says: `Nothing listens on port ${port} yet: start the server (e.g. with startProcess) and check again.`,
      };
    if (first === "28")
      return {
        answers: false,
        says: `${where} accepted the connection but sent no answer within ${PROBE_TIMEOUT_S} s.`,
      };
    return { answers: false, says: `${where} did not answer HTTP (curl exit ${first}).` };
  }
  if (kind === "tcp") {
    return first === "open"
      ? {
          answers: true,
          says: `Port ${port} accepts connections inside the machine (no curl there to check HTTP).`,
        }
      : {
          answers: false,
          says: `Nothing listens on port ${port} yet: start the server (e.g. with startProcess) and check again.`,
        };
  }
  return {
    answers: false,
    says: "The machine has neither curl nor bash, so whether the port answers is unknown.",
  };
}

/** The public URL of a port of the machine, and whether a server answers there yet. */
export const previewUrlTool: ToolSpec<PreviewUrlToolInput, PreviewUrlToolOutput> = checkedTool<
  PreviewUrlToolInput,
  PreviewUrlToolOutput
>({
  name: "previewUrl",
  snakeName: "preview_url",
  description:
    "Get the URL where a web server running on the sandbox machine can be opened (to show it to the user or " +
    "test it), and check whether it answers yet. Give the port it listens on (the machine's main port, or " +
    "3000-9999). The main port's URL can be shared; other ports are private to the machine's owner.",
  inputSchema,
  async run(sandbox, input, context = {}) {
    if (!hasUrls(sandbox)) {
      return toolError("this sandbox has no public URLs (it is not an exe.dev machine).");
    }
    const path = input.path ?? "/";
    let url: string;
    let probe: Probe;
    try {
      url = new URL(path, sandbox.url(input.port)).href;
      const command = `sh -c ${shellQuote(PROBE)} sh ${input.port} ${shellQuote(path)} ${PROBE_TIMEOUT_S}`;
      const result = await sandbox.exec(command, {
        timeoutMs: (PROBE_TIMEOUT_S + 10) * 1000,
        ...(context.signal ? { signal: context.signal } : {}),
      });
      probe = readProbe(input.port, result.stdout);
    } catch (error) {
      return errorResult(error);
    }
    return {
      ok: true,
      text: `URL: ${url}\n${probe.says}`,
      url,
      answers: probe.answers,
      ...(probe.status === undefined ? {} : { status: probe.status }),
    };
  },
});
