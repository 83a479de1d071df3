import { describe, expect, it } from "vitest";
import { MarkerStripper, OutputCollector } from "./output.js";

describe("OutputCollector", () => {
  it("streams whole characters even when a chunk splits one", () => {
    const seen: string[] = [];
    const collector = new OutputCollector(1024, (text) => seen.push(text));
    const bytes = Buffer.from("a€😀b");
    for (const byte of bytes) collector.push(Buffer.from([byte]));
    collector.end();
    expect(seen.join("")).toBe("a€😀b");
    expect(seen.some((text) => text.includes("\uFFFD"))).toBe(false);
    expect(collector.text()).toBe("a€😀b");
  });

  it("cuts at the byte limit without leaving half a character", () => {
    const collector = new OutputCollector(5);
    collector.push(Buffer.from("ab€€")); // 2 + 3 + 3 bytes; the limit falls inside the second €
    expect(collector.truncated).toBe(true);
    expect(collector.text()).toBe("ab€");
  });

  it("is not truncated at exactly the limit", () => {
    const collector = new OutputCollector(3);
    collector.push(Buffer.from("abc"));
    collector.push(Buffer.alloc(0));
    expect(collector.truncated).toBe(false);
    expect(collector.text()).toBe("abc");
  });
});

describe("MarkerStripper", () => {
  const run = (chunks: string[]) => {
    const forwarded: Buffer[] = [];
    let pgid: number | undefined;
    const stripper = new MarkerStripper(
      (group) => {
        pgid = group;
      },
      (chunk) => forwarded.push(chunk),
    );
    for (const chunk of chunks) stripper.push(Buffer.from(chunk, "latin1"));
    stripper.end();
    return { text: Buffer.concat(forwarded).toString("latin1"), pgid };
  };

  it("removes the marker and reports the group, even split over chunks", () => {
    expect(run(["\x1eEXEDEV_PG", "ID=4242\x1eerr\n"])).toEqual({ text: "err\n", pgid: 4242 });
  });

  it("passes login-shell noise before the marker through", () => {
    expect(run(["warning: x\n\x1eEXEDEV_PGID=7\x1e", "rest"])).toEqual({ text: "warning: x\nrest", pgid: 7 });
  });

  it("passes everything through when no marker comes", () => {
    expect(run(["plain ", "stderr"])).toEqual({ text: "plain stderr", pgid: undefined });
  });
});
