import { open } from "node:fs/promises";
import type { DirectoryTransferResult } from "../sandbox.js";
import { ArchiveReader, readTarEntries } from "./tar-reader.js";

/** What an archive holds, counted as an extraction would count it (directories not counted). */
export async function countArchive(archivePath: string): Promise<DirectoryTransferResult> {
  const handle = await open(archivePath, "r");
  try {
    const counts: DirectoryTransferResult = { files: 0, bytes: 0 };
    for (const entry of readTarEntries(new ArchiveReader(handle.fd))) {
      if (entry.type === "directory" || entry.type === "other") continue;
      counts.files++;
      if (entry.type === "file") counts.bytes += entry.size;
    }
    return counts;
  } finally {
    await handle.close();
  }
}
