#!/usr/bin/env node
import { runReapCli } from "./fleet/reap-cli.js";

const output = { log: (text: string) => console.log(text), error: (text: string) => console.error(text) };
process.exitCode = await runReapCli(process.argv.slice(2), output);
