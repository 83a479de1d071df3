import { AsyncLocalStorage } from "node:async_hooks";
import type { Redactor } from "@exedev-sandbox/core";
import type { PluginLogger } from "@paperclipai/plugin-sdk";

/** The redactor of the hook call in progress: each call knows its own environment's secrets. */
export const redactionScope: AsyncLocalStorage<Redactor> = new AsyncLocalStorage<Redactor>();

function redactMeta(
  meta: Record<string, unknown> | undefined,
  redact: Redactor,
): Record<string, unknown> | undefined {
  if (meta === undefined) return undefined;
  try {
    // The redactor knows JSON-escaped forms too, so the text stays valid JSON.
    return JSON.parse(redact(JSON.stringify(meta))) as Record<string, unknown>;
  } catch {
    return { note: "log metadata dropped: it could not be redacted" };
  }
}

/** Paperclip's logger, with the current call's secrets replaced in every message and metadata value. */
export function redactingLogger(logger: PluginLogger): PluginLogger {
  const wrap =
    (level: keyof PluginLogger) =>
    (message: string, meta?: Record<string, unknown>): void => {
      const redact = redactionScope.getStore() ?? ((text: string) => text);
      logger[level](redact(message), redactMeta(meta, redact));
    };
  return { info: wrap("info"), warn: wrap("warn"), error: wrap("error"), debug: wrap("debug") };
}
