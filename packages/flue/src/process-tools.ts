import {
  type AnyToolSpec,
  listProcessesTool,
  previewUrlTool,
  processOutputTool,
  type Sandbox,
  startProcessTool,
  stopProcessTool,
  toolSpecs,
} from "@exedev-sandbox/core";
import {
  createBashTool,
  createEditTool,
  createGlobTool,
  createGrepTool,
  createReadTool,
  createWriteTool,
  type Sandbox as FlueSandbox,
  type SandboxToolFactory,
} from "@flue/runtime";

type FlueTool = ReturnType<SandboxToolFactory>[number];

/**
 * Where a Flue sandbox made by this adapter keeps its core sandbox. An enumerable symbol
 * property, because Flue hands tool factories a spread copy of the sandbox (`{ ...env }`), which
 * keeps it; a symbol, so it is no name a user or Flue would read.
 */
const CORE = Symbol("exedev-sandbox.core");

/** Marks `flue` as the Flue face of `core`, so {@link exedevTools} can reach core's processes. */
export function withCore(flue: FlueSandbox, core: Sandbox): FlueSandbox {
  Object.defineProperty(flue, CORE, { value: core, enumerable: true });
  return flue;
}

function coreOf(env: FlueSandbox): Sandbox | undefined {
  return (env as unknown as { [CORE]?: Sandbox })[CORE];
}

const CORE_SPECS: readonly AnyToolSpec[] = [
  startProcessTool,
  processOutputTool,
  stopProcessTool,
  listProcessesTool,
  previewUrlTool,
] as readonly AnyToolSpec[];

/** Core's descriptions name tools canonically ("use processOutput"); Flue models see snake_case. */
function flueDescription(spec: AnyToolSpec): string {
  return toolSpecs.reduce(
    (text, other) => text.replace(new RegExp(`\\b${other.name}\\b`, "g"), other.snakeName),
    spec.description,
  );
}

function toFlueTool(spec: AnyToolSpec, core: Sandbox, env: FlueSandbox): FlueTool {
  const { $schema: _, ...parameters } = spec.inputSchema.toJSONSchema() as Record<string, unknown>;
  return {
    name: spec.snakeName,
    label: spec.snakeName,
    description: flueDescription(spec),
    // Plain JSON Schema, which Flue's model layer validates as it does TypeBox's.
    parameters: parameters as FlueTool["parameters"],
    async execute(_toolCallId, params, signal) {
      const result = await spec.run(core, params, { cwd: env.cwd, ...(signal && { signal }) });
      // Flue's tools throw for a failed call; the model reads the message as the error.
      if (!result.ok) throw new Error(result.text);
      return { content: [{ type: "text", text: result.text }], details: result };
    },
  };
}

/**
 * The tools of a sandbox from {@link exedev}: Flue's own six (`read`, `write`, `edit`, `bash`,
 * `grep`, `glob`, from Flue's `create*Tool` factories, so they behave as Flue's defaults) plus
 * core's process tools `start_process`, `process_output`, `stop_process` and `list_processes`,
 * and `preview_url`.
 * A sandbox not made by this adapter gets Flue's six only.
 */
export const exedevTools: SandboxToolFactory = (env) => {
  const builtIn = [
    createReadTool(env),
    createWriteTool(env),
    createEditTool(env),
    createBashTool(env),
    createGrepTool(env),
    createGlobTool(env),
  ];
  const core = coreOf(env);
  return core ? [...builtIn, ...CORE_SPECS.map((spec) => toFlueTool(spec, core, env))] : builtIn;
};
