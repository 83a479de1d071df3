import * as runtime from "@flue/runtime";
import { describe, expect, inject, it } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    flueRuntime: "dev" | "2.0.3";
  }
}

// Each test project names the runtime it loads; this proves the alias really took effect, so the
// 2.0.3 project cannot silently run against the dev copy. `ToolTimeoutError` arrived in 2.1.0.
describe("the Flue runtime under test", () => {
  it("is the one the test project names", () => {
    expect(typeof runtime.sandboxFromDriver).toBe("function");
    expect("ToolTimeoutError" in runtime).toBe(inject("flueRuntime") === "dev");
  });
});
