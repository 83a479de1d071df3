#!/usr/bin/env node
import { startFromCommandLine, USAGE, UsageError } from "./cli-main.js";

const output = { log: (text: string) => console.log(text), error: (text: string) => console.error(text) };

try {
  const emulator = await startFromCommandLine(process.argv.slice(2), output);
  if (emulator) {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(1); // a second Ctrl-C does not wait
      stopping = true;
      console.error(`\nexedev-emulator: ${signal}, stopping`);
      emulator.stop().then(
        () => process.exit(0),
        (error: Error) => {
          console.error(`exedev-emulator: stopping failed: ${error.message}`);
          process.exit(1);
        },
      );
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  }
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`exedev-emulator: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`exedev-emulator: ${(error as Error).message}`);
  process.exit(1);
}
