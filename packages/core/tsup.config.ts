import { defineConfig } from "tsup";
import { libraryConfig } from "../../tsup.shared.ts";

export default defineConfig(
  libraryConfig(["src/index.ts", "src/https.ts", "src/cli.ts"], ["src/index.ts", "src/https.ts"]),
);
