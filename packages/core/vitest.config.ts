import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { perlAsText, sharedTestConfig } from "../../vitest.shared.ts";

export default defineConfig({
  plugins: [perlAsText],
  resolve: {
    // See tsconfig.json: the testing kit (and the emulator, for fault tests) are used from
    // source, and they must see this core's source.
    alias: {
      "@exedev-sandbox/emulator": fileURLToPath(new URL("../emulator/src/index.ts", import.meta.url)),
      "@exedev-sandbox/testing": fileURLToPath(new URL("../testing/src/index.ts", import.meta.url)),
      "@exedev-sandbox/core": fileURLToPath(new URL("./src/index.ts", import.meta.url)),
    },
  },
  test: sharedTestConfig,
});
