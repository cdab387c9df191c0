#!/usr/bin/env -S node --import tsx
// `pnsmgr serve | events ...`: see command.ts. (This entry holds no dynamic import: tsx cannot lex one
// after a shebang line.)
import { pnsmgr } from "./command.js";

await pnsmgr(process.argv.slice(2));
