import { describe, expect, it } from "vitest";
import { mimeTypeOf } from "./mime-types.js";

describe("mimeTypeOf", () => {
  it("classifies by extension exactly as deepagents does", () => {
    expect(mimeTypeOf("/a/photo.PNG")).toEqual({ mimeType: "image/png", binary: true });
    expect(mimeTypeOf("/a/doc.pdf")).toEqual({ mimeType: "application/pdf", binary: true });
    expect(mimeTypeOf("/a/icon.svg")).toEqual({ mimeType: "image/svg+xml", binary: false });
    expect(mimeTypeOf("/a/data.json")).toEqual({ mimeType: "application/json", binary: false });
    expect(mimeTypeOf("/a/Dockerfile")).toEqual({ mimeType: "text/plain", binary: false });
    expect(mimeTypeOf("/a/.png")).toEqual({ mimeType: "text/plain", binary: false });
  });
});
