import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeWithSshd, routeLobbyToSshd, startLobbyServer, startSshd } from "@exedev-sandbox/testing";
import { expect, it } from "vitest";
import { createExeDevApi } from "../api/exe-dev-api.js";
import { createExeDevSandbox } from "../exedev-sandbox.js";

describeWithSshd("createExeDevSandbox's sandbox moves directories", () => {
  it("uploads and downloads a tree through the exe.dev sandbox", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "exedev-dirs-exedev-"));
    const sshd = await startSshd();
    const lobby = await startLobbyServer({ sshStyle: "gateway" });
    routeLobbyToSshd(lobby, sshd);
    try {
      const sandbox = await createExeDevSandbox({
        create: true,
        api: createExeDevApi({ baseUrl: lobby.url, token: lobby.token }),
        privateKey: sshd.privateKey,
        knownHostsPath: join(scratch, "known_hosts"),
      });
      try {
        const source = join(scratch, "source");
        mkdirSync(join(source, "sub"), { recursive: true });
        writeFileSync(join(source, "sub", "a.txt"), "alpha\n");
        symlinkSync("sub/a.txt", join(source, "link"));
        const remote = `${sandbox.homeDir}/exedev-dirs-${randomBytes(4).toString("hex")}`;
        expect(await sandbox.uploadDirectory(source, remote)).toEqual({ files: 2, bytes: 6 });
        expect(await sandbox.readFile(`${remote}/link`)).toBe("alpha\n");
        const back = join(scratch, "back");
        expect(await sandbox.downloadDirectory(remote, back, { exclude: ["link"] })).toEqual({
          files: 1,
          bytes: 6,
        });
        expect(readFileSync(join(back, "sub", "a.txt"), "utf8")).toBe("alpha\n");
        expect(() => readlinkSync(join(back, "link"))).toThrow();
        await sandbox.rm(remote, { recursive: true });
      } finally {
        await sandbox.dispose();
      }
    } finally {
      await lobby.close();
      await sshd.stop();
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
