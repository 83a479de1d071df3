import { SandboxError } from "@exedev-sandbox/core";

/** The error a factory throws for a bad option, naming the option. */
export function invalidOption(factory: string, field: string, message: string): SandboxError {
  return new SandboxError("invalid_argument", `${factory}: ${message}`, { details: { field } });
}

/** Throws unless each named option is absent or a positive integer. */
export function checkPositiveIntegers<T extends object>(
  factory: string,
  options: T,
  fields: (keyof T)[],
): void {
  for (const field of fields) {
    const value = options[field];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) > 0)) {
      throw invalidOption(factory, String(field), `${String(field)} must be a positive integer.`);
    }
  }
}
