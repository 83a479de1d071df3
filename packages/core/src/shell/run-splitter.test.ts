import { describe, expect, it } from "vitest";
import { RunSplitter } from "./run-splitter.js";

const collect = (splitter: RunSplitter, marker: string) => {
  const run = { data: "", payload: undefined as string | undefined };
  splitter.expect(
    marker,
    (chunk) => {
      run.data += chunk.toString();
    },
    (payload) => {
      run.payload = payload;
    },
  );
  return run;
};

describe("RunSplitter", () => {
  it("ends a run at its marker, wherever the chunks split it, and passes on the bytes before it", () => {
    const whole = "out\nno newline\x1eabc:17\x1e";
    for (let cut = 0; cut <= whole.length; cut++) {
      for (let cut2 = cut; cut2 <= whole.length; cut2++) {
        const splitter = new RunSplitter();
        const run = collect(splitter, "abc");
        splitter.push(Buffer.from(whole.slice(0, cut)));
        splitter.push(Buffer.from(whole.slice(cut, cut2)));
        splitter.push(Buffer.from(whole.slice(cut2)));
        expect([run.data, run.payload]).toEqual(["out\nno newline", "17"]);
      }
    }
  });

  it("does not end a run at another run's marker or at a lookalike", () => {
    const splitter = new RunSplitter();
    const run = collect(splitter, "abc");
    splitter.push(Buffer.from("\x1eabd:1\x1e \x1eab"));
    expect(run.payload).toBeUndefined();
    splitter.push(Buffer.from("c:0\x1e"));
    expect([run.data, run.payload]).toEqual(["\x1eabd:1\x1e ", "0"]);
  });

  it("keeps what arrives between runs for the next run, and the bytes after a marker", () => {
    const splitter = new RunSplitter();
    const first = collect(splitter, "m1");
    splitter.push(Buffer.from("a\x1em1:0\x1elate"));
    splitter.push(Buffer.from(" job\n"));
    expect(first).toEqual({ data: "a", payload: "0" });
    const second = collect(splitter, "m2");
    splitter.push(Buffer.from("b\x1em2:3\x1e"));
    expect(second).toEqual({ data: "late job\nb", payload: "3" });
  });

  it("hands over what it holds when the run is abandoned", () => {
    const splitter = new RunSplitter();
    const run = collect(splitter, "abc");
    splitter.push(Buffer.from("partial\x1eab"));
    splitter.abandon();
    expect(run).toEqual({ data: "partial\x1eab", payload: undefined });
  });
});
