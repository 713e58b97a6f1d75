#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  console.error(`abi: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
