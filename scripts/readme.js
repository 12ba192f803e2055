// Rewrites the generated parts of README.md from the built code (run after `npm run build`): the
// registry table, the limits table and the per-format metadata contract.
import fs from 'node:fs';
import { withLimitsTable, withRegistryTable } from '../dist/registry-table.js';
import { withFormatContract } from '../dist/formats/contract.js';

const file = new URL('../README.md', import.meta.url);
fs.writeFileSync(file, withLimitsTable(withFormatContract(withRegistryTable(fs.readFileSync(file, 'utf8')))));
