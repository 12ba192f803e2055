// Rewrites the generated table in README.md from the built registries (run after `npm run build`).
import fs from 'node:fs';
import { withRegistryTable } from '../dist/registry-table.js';

const file = new URL('../README.md', import.meta.url);
fs.writeFileSync(file, withRegistryTable(fs.readFileSync(file, 'utf8')));
