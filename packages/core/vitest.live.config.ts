import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../../vitest.shared.ts";

/** Tests against the real exe.dev; they skip themselves unless EXE_API_TOKEN is set. */
export default defineConfig({
  test: {
    ...sharedTestConfig,
    include: ["src/**/*.live.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    outputFile: { json: ".vitest/live-report.json" },
  },
});
