// The loop through Flue's own sandbox wrapper (sandboxFromDriver), as Flue's built-in tools use it.
import { sandboxFromDriver } from "@flue/runtime";
import { createExeDevDriver } from "../../packages/flue/dist/index.js";

export function createLeg({ sandbox, cwd }) {
  const flue = sandboxFromDriver(createExeDevDriver(sandbox), cwd);
  const at = (path) => (path.startsWith("/") ? path : `${cwd}/${path}`);
  const steps = {
    bash: ({ command }) => flue.exec(command),
    readFile: ({ path }) => flue.readFile(at(path)),
    writeFile: ({ path, content }) => flue.writeFile(at(path), content),
    editFile: async ({ path, oldString, newString }) =>
      flue.writeFile(
        at(path),
        (await flue.readFile(at(path))).replace(oldString, () => newString),
      ),
    listFiles: ({ path }) => flue.readdir(at(path)),
  };
  return { name: "flue (sandboxFromDriver)", runStep: ({ tool, input }) => steps[tool](input) };
}
