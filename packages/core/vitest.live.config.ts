import { defineConfig } from "vitest/config";
import { perlAsText, sharedTestConfig } from "../../vitest.shared.ts";

/** Tests against the real exe.dev; they skip themselves unless EXE_API_TOKEN is set. */
export default defineConfig({
  plugins: [perlAsText],
  test: {
    ...sharedTestConfig,
    include: ["src/**/*.live.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    outputFile: { json: ".vitest/live-report.json" },
  },
});
