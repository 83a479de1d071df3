import { invalidArgument, isSandboxError } from "../errors.js";
import { checkDurationMs, checkPositiveInteger, checkRemotePath } from "../validate.js";
import { checkOptionsObject } from "../validate-options.js";
import type { ToolResult, ToolRunContext, ToolSpec } from "./tool-spec.js";

function checkContext(context: ToolRunContext | undefined): void {
  const checked = checkOptionsObject(context, "tool run context");
  if (checked.cwd !== undefined) checkRemotePath(checked.cwd, "context.cwd");
  checkDurationMs(checked.defaultTimeoutMs, "context.defaultTimeoutMs");
  checkPositiveInteger(checked.maxOutputChars, "context.maxOutputChars");
  if (checked.signal !== undefined && !(checked.signal instanceof AbortSignal)) {
    throw invalidArgument("context.signal must be an AbortSignal.");
  }
}

/**
 * Makes a tool's `run` check its input against the tool's own schema (and its context) first:
 * callers that skip the framework's validation still get an `invalid_argument` result, never a
 * raw TypeError or a request built from garbage.
 */
export function checkedTool<Input, Output extends object>(
  spec: ToolSpec<Input, Output>,
): ToolSpec<Input, Output> {
  return {
    ...spec,
    async run(sandbox, input, context): Promise<ToolResult<Output>> {
      const parsed = spec.inputSchema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? ` (${issue.path.join(".")})` : "";
        return {
          ok: false,
          code: "invalid_argument",
          text: `Invalid input for ${spec.name}${where}: ${issue?.message ?? "rejected"}.`,
        };
      }
      try {
        checkContext(context);
      } catch (error) {
        if (!isSandboxError(error)) throw error;
        return { ok: false, code: error.code, text: error.message };
      }
      return spec.run(sandbox, parsed.data, context);
    },
  };
}
