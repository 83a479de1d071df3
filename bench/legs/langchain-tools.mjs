// The loop through the LangChain tools (tool.invoke, with schema validation).
import { toolSpecs } from "../../packages/core/dist/index.js";
import { createExeDevTools } from "../../packages/langchain-tools/dist/index.js";

export function createLeg({ sandbox, cwd }) {
  const snake = new Map(toolSpecs.map((spec) => [spec.name, spec.snakeName]));
  const tools = new Map(createExeDevTools(sandbox, { cwd }).map((tool) => [tool.name, tool]));
  return {
    name: "langchain-tools (tool.invoke)",
    runStep: ({ tool, input }) => tools.get(snake.get(tool)).invoke(input),
  };
}
