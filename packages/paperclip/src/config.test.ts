import { generateSshKeyPair } from "@exedev-sandbox/core";
import { describe, expect, it } from "vitest";
import { checkConfig } from "./config.js";
import { DRIVER_KEY } from "./manifest.js";
import { createExeDevPlugin } from "./plugin.js";

const TOKEN = "exe0.c2VjcmV0LXRva2VuLXBheWxvYWQ.c2lnbmF0dXJl";
const KEY = generateSshKeyPair("config-test");
const noEnv = {};

function errorsFor(config: Record<string, unknown>, env: NodeJS.ProcessEnv = noEnv): string[] {
  return checkConfig({ apiKey: TOKEN, ...config }, env).errors;
}

describe("checkConfig", () => {
  it("accepts a minimal config and fills in the defaults", () => {
    const { config, errors, warnings } = checkConfig({ apiKey: TOKEN }, noEnv);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      apiKey: TOKEN,
      namePrefix: "paperclip",
      timeoutMs: 300_000,
      reuseLease: false,
      hostKey: "accept-new",
      env: {},
      tags: [],
      integrations: [],
    });
  });

  it("reads every field, normalising where exe.dev allows several spellings", () => {
    const { config, errors } = checkConfig(
      {
        apiKey: ` ${TOKEN} `,
        apiUrl: "https://exe.dev/exec/",
        namePrefix: "agents",
        image: "ubuntu:24.04",
        command: "auto",
        cpu: "4",
        memory: 16,
        disk: "50GB",
        comment: "paperclip runs",
        env: { NODE_ENV: "production" },
        integrations: "github, npm",
        tags: ["paperclip", "ci"],
        setupScript: "#!/bin/sh\napt-get install -y nodejs\n",
        prompt: "say hi",
        timeoutMs: 60_000,
        reuseLease: true,
        user: "exedev",
        privateKey: KEY.privateKey,
        identityFile: "/home/paperclip/.ssh/id_ed25519",
        port: 2222,
        hostKey: "JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo=",
      },
      noEnv,
    );
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      apiKey: TOKEN,
      apiUrl: "https://exe.dev",
      cpu: 4,
      memory: "16GiB",
      integrations: ["github", "npm"],
      hostKey: "SHA256:JJOP/lwiBGOMilfONPWZCXUrfK154cnJFXcqlsi6lPo",
    });
  });

  it.each([
    [{ apiUrl: "ftp://exe.dev" }, "apiUrl: must be an absolute http(s) URL"],
    [{ apiUrl: "not a url" }, "apiUrl: must be an absolute http(s) URL"],
    [{ namePrefix: "Bad_Prefix" }, "namePrefix: VM name prefix"],
    [{ namePrefix: "x".repeat(60) }, "namePrefix: VM name prefix must be 1 to"],
    [{ templateVm: "no spaces allowed" }, "templateVm:"],
    [{ image: "two words" }, "image: must be a non-empty string without spaces, commas"],
    [{ command: "line\nbreak" }, "command: must be a single line"],
    [{ cpu: 0 }, "cpu: must be a whole number of at least 1"],
    [{ cpu: 2.5 }, "cpu: must be a whole number"],
    [{ memory: "lots" }, 'memory: must be a size such as "8GB"'],
    [{ disk: -3 }, "disk: must be a whole number of GiB (at least 1)"],
    [{ comment: "x".repeat(201) }, "comment: is 201 bytes; exe.dev allows at most 200"],
    [{ env: ["A=1"] }, "env: must be an object"],
    [{ env: { "NOT-VALID": "1" } }, 'env: name "NOT-VALID" is not a valid shell identifier'],
    [{ env: { OK: 5 } }, "env: value for OK must be a string"],
    [{ env: { OK: "a\nb" } }, "env: value for OK must be a single line"],
    [{ integrations: [7] }, 'integrations: entry "7" must be non-empty'],
    [{ tags: ["Upper"] }, 'tags: entry "Upper" must match ^[a-z][a-z0-9_-]*$'],
    [{ setupScript: 42 }, "setupScript: must be a non-empty string"],
    [{ setupScript: "x".repeat(10_241) }, "setupScript: is 10241 bytes; exe.dev allows at most 10240"],
    [{ prompt: "two\nlines" }, "prompt: must be a single line"],
    [{ timeoutMs: 0 }, "timeoutMs: must be a whole number from 1 to 86400000"],
    [{ timeoutMs: "soon" }, "timeoutMs: must be a whole number"],
    [{ reuseLease: "yes" }, "reuseLease: must be true or false"],
    [{ user: "two words" }, "user: must not contain spaces"],
    [{ privateKey: KEY.publicKey }, "privateKey: must be a private key in OpenSSH or PEM form"],
    [{ privateKey: 12 }, "privateKey: must be a string or a Paperclip secret"],
    [{ identityFile: "relative/key" }, "identityFile: must be an absolute path"],
    [{ port: 70_000 }, "port: must be a whole number from 1 to 65535"],
    [{ hostKey: "yes" }, 'hostKey: must be "accept-new", "strict", or a pinned fingerprint'],
  ])("rejects %j with a message naming the field", (bad, message) => {
    const errors = errorsFor(bad);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(message);
  });

  it("reports every bad field at once", () => {
    expect(errorsFor({ cpu: -1, port: 0, hostKey: "maybe", tags: "Nope" })).toHaveLength(4);
  });

  it("requires an API token, from the config or the Paperclip server's environment", () => {
    expect(checkConfig({}, noEnv).errors).toEqual([
      "apiKey: is required: paste an exe.dev API token, or set EXE_API_KEY (or EXE_API_TOKEN) in the Paperclip server's environment.",
    ]);
    expect(checkConfig({}, { EXE_API_KEY: TOKEN }).errors).toEqual([]);
    expect(checkConfig({}, { EXE_API_TOKEN: TOKEN }).errors).toEqual([]);
  });

  it("accepts unresolved Paperclip secret references in secret fields", () => {
    const id = "0b5f0e7e-4c43-4a47-9f5b-0f6a8c1b2d3e";
    const ref = { type: "secret_ref", secretId: id };
    expect(checkConfig({ apiKey: id, privateKey: ref }, noEnv).errors).toEqual([]);
  });

  it("never quotes a secret value in a message", () => {
    const secret = "s3cr3t-value-that-must-not-leak";
    const errors = errorsFor({
      env: { GOOD: secret, "bad name": secret },
      prompt: `${secret}\nmore`,
      privateKey: secret,
    });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join(" ")).not.toContain(secret);
  });

  it("warns about settings that have no effect", () => {
    const { warnings } = checkConfig(
      { apiKey: TOKEN, templateVm: "base-vm", image: "ubuntu", surprise: 1, reuseLease: true },
      noEnv,
    );
    expect(warnings).toEqual([
      "surprise: unknown setting, ignored.",
      "templateVm: leases clone base-vm, so image is ignored.",
      "reuseLease: released VMs keep running (and count against the plan) until destroyed.",
    ]);
  });
});

describe("the validate-config hook", () => {
  const validate = createExeDevPlugin({ env: noEnv }).definition.onEnvironmentValidateConfig!;

  it("returns every error, and a normalised config when valid", async () => {
    expect(await validate({ driverKey: DRIVER_KEY, config: { cpu: 0 } })).toEqual({
      ok: false,
      errors: [
        "cpu: must be a whole number of at least 1.",
        "apiKey: is required: paste an exe.dev API token, or set EXE_API_KEY (or EXE_API_TOKEN) in the Paperclip server's environment.",
      ],
      warnings: [],
    });
    expect(
      await validate({
        driverKey: DRIVER_KEY,
        config: { apiKey: TOKEN, apiUrl: "https://exe.dev/exec", cpu: "2" },
      }),
    ).toEqual({
      ok: true,
      warnings: [],
      normalizedConfig: {
        apiKey: TOKEN,
        apiUrl: "https://exe.dev",
        cpu: 2,
        namePrefix: "paperclip",
        timeoutMs: 300_000,
        reuseLease: false,
        hostKey: "accept-new",
      },
    });
  });

  it("reads a pasted private key, and reports an encrypted or broken one", async () => {
    const truncated = `${KEY.privateKey.split("\n").slice(0, 3).join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
    const result = await validate({
      driverKey: DRIVER_KEY,
      config: { apiKey: TOKEN, privateKey: truncated },
    });
    expect(result.ok).toBe(false);
    expect(result.errors?.[0]).toMatch(/^privateKey: privateKey could not be read/);
    expect(JSON.stringify(result)).not.toContain(truncated.split("\n")[1]);
    expect(
      (await validate({ driverKey: DRIVER_KEY, config: { apiKey: TOKEN, privateKey: KEY.privateKey } })).ok,
    ).toBe(true);
  });

  it("reports an identity file the server cannot read", async () => {
    const result = await validate({
      driverKey: DRIVER_KEY,
      config: { apiKey: TOKEN, identityFile: "/no/such/key" },
    });
    expect(result.errors).toEqual(["identityFile: /no/such/key cannot be read by the Paperclip server."]);
  });
});
