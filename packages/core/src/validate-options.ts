import { invalidArgument } from "./errors.js";

/** Checks an optional options argument: undefined or a plain object (not null, an array or a string). */
export function checkOptionsObject<T extends object>(value: T | undefined, what: string): T {
  if (value === undefined) return {} as T;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidArgument(`${what} must be an object.`);
  }
  return value;
}

/** Checks an optional boolean option: a truthy string or number is a mistake, not a yes. */
export function checkOptionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") throw invalidArgument(`${what} must be a boolean.`);
  return value;
}

/** Checks an optional callback option. */
export function checkOptionalFunction(value: unknown, what: string): void {
  if (value !== undefined && typeof value !== "function")
    throw invalidArgument(`${what} must be a function.`);
}
