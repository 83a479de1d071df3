import { defineConfig } from "tsup";

export default defineConfig({
  // manifest.js and worker.js are the files Paperclip loads (package.json "paperclipPlugin").
  entry: ["src/index.ts", "src/manifest.ts", "src/worker.ts"],
  format: ["esm"],
  target: "node22",
  dts: true,
  sourcemap: true,
  clean: true,
});
