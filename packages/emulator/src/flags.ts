/** How a flag takes its value. `list` flags may repeat; every occurrence is kept. */
export type FlagType = "string" | "bool" | "uint" | "list";

/** One flag a command accepts. */
export interface FlagDefinition {
  type: FlagType;
  /** Shown by `help <command>`. */
  description: string;
  /** Other names for the same flag, e.g. `int` for `integration`. */
  aliases?: readonly string[];
}

/** The flags of one command, by name (without dashes). */
export type FlagSpec = Readonly<Record<string, FlagDefinition>>;

/** A flag word the command does not accept, or a value of the wrong kind; the command fails. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

// Every command answers `--help`/`-h`, as Go's flag package does.
const HELP_FLAG: FlagDefinition = { type: "bool", description: "Show help", aliases: ["h"] };

const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** The values given for a command's flags, already checked against their types. */
export class FlagValues {
  constructor(private readonly values: ReadonlyMap<string, readonly string[]>) {}

  /** Whether the flag was given at all. */
  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The last value given for a string flag. */
  string(name: string): string | undefined {
    return this.values.get(name)?.at(-1);
  }

  /** A boolean flag's value, or undefined when it was not given. */
  bool(name: string): boolean | undefined {
    const value = this.string(name);
    return value === undefined ? undefined : value === "true";
  }

  /** An unsigned integer flag's value. */
  uint(name: string): number | undefined {
    const value = this.string(name);
    return value === undefined ? undefined : Number(value);
  }

  /** Every value of a repeatable flag, in order. */
  list(name: string): string[] {
    return [...(this.values.get(name) ?? [])];
  }
}

/** Positional arguments and flags of one command. */
export interface ParsedArgs {
  positionals: string[];
  flags: FlagValues;
}

function lookup(spec: FlagSpec, name: string): [string, FlagDefinition] | undefined {
  if (name === "help" || name === "h") return ["help", HELP_FLAG];
  const direct = spec[name];
  if (direct) return [name, direct];
  for (const [canonical, definition] of Object.entries(spec)) {
    if (definition.aliases?.includes(name)) return [canonical, definition];
  }
  return undefined;
}

/**
 * Parses the words after a command the way Go's `flag` package reads them, with two
 * conveniences: flags may come after positionals, and every word after `--` is positional.
 * A flag is `-name` or `--name`, with its value after `=` or in the next word; booleans take
 * no next word (`--json`, `--json=true`, `--json=false`).
 *
 * exe.dev itself moves flags in front of positionals without knowing their types, so there a
 * bare boolean such as `--json` swallows the following word. The emulator knows each flag's
 * type and does not reproduce that trap; clients should send `--name=value` anyway.
 *
 * @throws FlagError with Go's wording ("flag provided but not defined: -x", …).
 */
export function parseFlags(words: readonly string[], spec: FlagSpec): ParsedArgs {
  const positionals: string[] = [];
  const values = new Map<string, string[]>();
  for (let index = 0; index < words.length; index++) {
    const word = words[index] as string;
    if (word === "--") {
      positionals.push(...words.slice(index + 1));
      break;
    }
    if (word.length < 2 || !word.startsWith("-")) {
      positionals.push(word);
      continue;
    }
    const body = word.startsWith("--") ? word.slice(2) : word.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw new FlagError(`bad flag syntax: ${word}`);
    }
    const equals = body.indexOf("=");
    const given = equals === -1 ? body : body.slice(0, equals);
    const found = lookup(spec, given);
    if (!found) throw new FlagError(`flag provided but not defined: -${given}`);
    const [name, definition] = found;
    let value = equals === -1 ? undefined : body.slice(equals + 1);
    if (definition.type === "bool") {
      value ??= "true";
      if (TRUE_WORDS.has(value)) value = "true";
      else if (FALSE_WORDS.has(value)) value = "false";
      else throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${given}: parse error`);
    } else if (value === undefined) {
      const next = words[index + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: -${given}`);
      value = next;
      index++;
    }
    if (definition.type === "uint" && !/^\d{1,15}$/.test(value)) {
      throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${given}: parse error`);
    }
    values.set(name, definition.type === "list" ? [...(values.get(name) ?? []), value] : [value]);
  }
  return { positionals, flags: new FlagValues(values) };
}
