#!/usr/bin/env node
// The `convkit` command: runs the built CLI (npm run build writes dist/). During development use
// `npx tsx src/cli/main.ts ...` instead.
import { run } from "../dist/cli/main.js";

process.exitCode = await run(process.argv.slice(2));
