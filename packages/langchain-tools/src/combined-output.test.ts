import { describe, expect, it } from "vitest";
import { CombinedOutput } from "./combined-output.js";

describe("CombinedOutput", () => {
  it("keeps everything up to the limit, then the head and the tail", () => {
    const short = new CombinedOutput(10);
    short.add("abc");
    short.add("defghij");
    expect([short.text(), short.truncated]).toEqual(["abcdefghij", false]);

    const long = new CombinedOutput(10);
    for (const chunk of ["12345", "6789", "abcdefgh", "XYZ"]) long.add(chunk);
    expect(long.truncated).toBe(true);
    expect(long.text()).toBe("12345\n[... 10 characters cut ...]\nghXYZ");
  });
});
