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
    let shell: { pid: number; startTicks: string } | undefined;
    const stripper = new MarkerStripper(
      (found) => {
        shell = found;
      },
      (chunk) => forwarded.push(chunk),
    );
    for (const chunk of chunks) stripper.push(Buffer.from(chunk, "latin1"));
    stripper.end();
    return { text: Buffer.concat(forwarded).toString("latin1"), shell };
  };

  it("removes the marker and reports the shell, even split over chunks", () => {
    expect(run(["\x1eEXEDEV_P", "ID=4242:98765\x1eerr\n"])).toEqual({
      text: "err\n",
      shell: { pid: 4242, startTicks: "98765" },
    });
  });

  it("accepts a marker without a start time (no /proc on the server)", () => {
    expect(run(["\x1eEXEDEV_PID=12:\x1e"])).toEqual({ text: "", shell: { pid: 12, startTicks: "" } });
  });

  it("passes login-shell noise before the marker through", () => {
    expect(run(["warning: x\n\x1eEXEDEV_PID=7:1\x1e", "rest"])).toEqual({
      text: "warning: x\nrest",
      shell: { pid: 7, startTicks: "1" },
    });
  });

  it("passes everything through when no marker comes", () => {
    expect(run(["plain ", "stderr"])).toEqual({ text: "plain stderr", shell: undefined });
  });
});
