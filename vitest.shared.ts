import type { ViteUserConfig } from "vitest/config";

/** Imports `*.pl` files as their text, as the build does (tsup's text loader): core's agent.pl. */
export const perlAsText = {
  name: "exedev-perl-as-text",
  transform(code: string, id: string) {
    return id.endsWith(".pl") ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined;
  },
};

/**
 * Settings every package's vitest config shares. The JSON report under `.vitest/` is what
 * `.ci/run` sums into its closing "N passed, N failed" line.
 */
export const sharedTestConfig: NonNullable<ViteUserConfig["test"]> = {
  include: ["src/**/*.test.ts"],
  exclude: ["**/*.live.test.ts", "**/node_modules/**", "**/dist/**"],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  reporters: ["default", "json"],
  outputFile: { json: ".vitest/report.json" },
};
