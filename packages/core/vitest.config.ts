import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.ts";

export default defineConfig({
  resolve: {
    // See tsconfig.json: the testing kit is used from source, and it must see this core's source.
    alias: {
      "@exedev-sandbox/testing": fileURLToPath(new URL("../testing/src/index.ts", import.meta.url)),
      "@exedev-sandbox/core": fileURLToPath(new URL("./src/index.ts", import.meta.url)),
    },
  },
  test: sharedTestConfig,
});
