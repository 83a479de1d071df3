/** One member of a hand-made archive; for tests that need orders and duplicates `tar -c` never makes. */
export type FixtureMember =
  | { type: "file"; name: string; content?: string; mode?: number }
  | { type: "directory"; name: string; mode?: number }
  | { type: "symlink" | "hardlink"; name: string; target: string }
  | { type: "chardev" | "blockdev" | "fifo"; name: string; mode?: number };

const BLOCK = 512;
const FLAGS = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  chardev: "3",
  blockdev: "4",
  directory: "5",
  fifo: "6",
} as const;

function header(member: FixtureMember, size: number): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (value: string, offset: number, length: number) => {
    const bytes = Buffer.from(value, "utf8");
    if (bytes.length > length) throw new Error(`Fixture field too long: ${value}`);
    bytes.copy(block, offset);
  };
  const octal = (value: number, offset: number, length: number) =>
    put(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length);
  put(member.name, 0, 100);
  octal("mode" in member && member.mode !== undefined ? member.mode : 0o755, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  block.write(FLAGS[member.type], 156, "latin1");
  if (member.type === "symlink" || member.type === "hardlink") put(member.target, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
}

/** A ustar archive holding exactly `members`, in order. */
export function craftTar(members: FixtureMember[]): Buffer {
  const parts: Buffer[] = [];
  for (const member of members) {
    const content = Buffer.from(member.type === "file" ? (member.content ?? "") : "", "utf8");
    parts.push(header(member, content.length), content);
    const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
    parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
