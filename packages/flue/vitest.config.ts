import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.ts";

// The peer range starts at the oldest runtime a current `@flue/cli` brings (it pins its own copy,
// and two copies break Flue), so every test also runs against that one, installed under an alias.
const oldestRuntime = fileURLToPath(new URL("./node_modules/@flue/runtime-2.0.3", import.meta.url));

export default defineConfig({
  test: {
    ...sharedTestConfig,
    projects: [
      { extends: true, test: { name: "flue-runtime-dev", provide: { flueRuntime: "dev" } } },
      {
        extends: true,
        test: { name: "flue-runtime-2.0.3", provide: { flueRuntime: "2.0.3" } },
        resolve: { alias: [{ find: /^@flue\/runtime$/, replacement: oldestRuntime }] },
      },
    ],
  },
});
