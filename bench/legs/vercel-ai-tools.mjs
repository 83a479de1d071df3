// The loop through the AI SDK tools, called the way the SDK calls them (tool.execute).
import { createExeDevTools } from "../../packages/vercel-ai-tools/dist/index.js";

export function createLeg({ sandbox, cwd }) {
  const tools = createExeDevTools(sandbox, { cwd });
  const options = { toolCallId: "bench", messages: [], context: {} };
  return {
    name: "vercel-ai-tools (tool.execute)",
    runStep: ({ tool, input }) => tools[tool].execute(input, options),
  };
}
