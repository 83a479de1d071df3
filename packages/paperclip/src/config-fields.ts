/**
 * Small readers for one config field each. Every reader returns the value it accepted (or
 * undefined when the field is absent) and records one sentence per problem, naming the field,
 * so the operator sees exactly which input to fix. Values are never quoted: some are secrets.
 */

/** Collects the problems found while reading a config object. */
export class FieldErrors {
  /** The problems so far, each `"<field>: <problem>"`. */
  readonly errors: string[] = [];

  /** Records a problem with `field`; returns undefined so readers can `return errors.add(...)`. */
  add(field: string, problem: string): undefined {
    this.errors.push(`${field}: ${problem}`);
    return undefined;
  }
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function absent(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

/** A trimmed string, optionally restricted to one line without control characters. */
export function readString(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
  options: { singleLine?: boolean } = {},
): string | undefined {
  const value = raw[field];
  if (absent(value)) return undefined;
  if (typeof value !== "string") return errors.add(field, "must be a string.");
  if (options.singleLine && CONTROL.test(value)) {
    return errors.add(field, "must be a single line without control characters.");
  }
  return options.singleLine ? value.trim() : value;
}

/** A whole number in a range; numeric strings are accepted because form inputs may send them. */
export function readInteger(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
  range: { min: number; max: number },
): number | undefined {
  const value = raw[field];
  if (absent(value)) return undefined;
  const number = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number !== "number" || !Number.isInteger(number) || number < range.min || number > range.max) {
    return errors.add(field, `must be a whole number from ${range.min} to ${range.max}.`);
  }
  return number;
}

/** A boolean; absent means `fallback`. */
export function readBoolean(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
  fallback: boolean,
): boolean {
  const value = raw[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    errors.add(field, "must be true or false.");
    return fallback;
  }
  return value;
}

/** A list of strings, each checked by `rule`; a comma-separated string is accepted too. */
export function readList(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
  rule: { test(item: string): boolean; says: string },
): string[] {
  const value = raw[field];
  if (absent(value)) return [];
  const items =
    typeof value === "string"
      ? value
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean)
      : value;
  if (!Array.isArray(items) || !items.every((item) => typeof item === "string")) {
    errors.add(field, "must be a list of strings.");
    return [];
  }
  const bad = items.findIndex((item) => !rule.test(item));
  if (bad >= 0) {
    errors.add(field, `entry ${bad + 1} ${rule.says}.`);
    return [];
  }
  return items;
}

/** A size such as "8GB" or "16GiB", or a whole number of GiB. */
export function readSize(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
): string | undefined {
  const value = raw[field];
  if (absent(value)) return undefined;
  if (typeof value === "number" && Number.isInteger(value) && value >= 1) return `${value}GiB`;
  if (typeof value === "string" && /^\d+(\.\d+)?(K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?$/.test(value.trim())) {
    return value.trim();
  }
  return errors.add(field, 'must be a size such as "8GB" or "16GiB", or a whole number of GiB.');
}

/** Environment variables: shell-identifier names, single-line string values. */
export function readEnvironment(
  raw: Record<string, unknown>,
  field: string,
  errors: FieldErrors,
): Record<string, string> {
  const value = raw[field];
  if (absent(value)) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    errors.add(field, "must be an object of NAME: value pairs.");
    return {};
  }
  const env: Record<string, string> = {};
  for (const [name, item] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      errors.add(field, `name ${JSON.stringify(name.slice(0, 64))} is not a valid shell identifier.`);
    } else if (typeof item !== "string" || /[\0\r\n]/.test(item)) {
      errors.add(field, `the value of ${name} must be a single-line string.`);
    } else {
      env[name] = item;
    }
  }
  return env;
}
