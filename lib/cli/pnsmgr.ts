#!/usr/bin/env node
// `pnsmgr serve | events ...`: see command.ts. Installed as the `pnsmgr` command from its build,
// dist/lib/cli/pnsmgr.js (`npm run build`); the tests run this source through tsx. (This entry holds
// no dynamic import: tsx cannot lex one after a shebang line.)
import { pnsmgr } from "./command.js";

await pnsmgr(process.argv.slice(2));
