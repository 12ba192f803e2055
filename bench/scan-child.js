// Runs one scan in a process of its own so that its peak RSS is the scanner's alone; prints JSON.
import { scan } from '../dist/index.js';

const inputs = process.argv.slice(2);
const t0 = performance.now();
const inv = await scan(inputs);
const ms = performance.now() - t0;
process.stdout.write(
  JSON.stringify({
    ms,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    models: inv.models.map((m) => `${m.location} ${m.format} ${m.sha256}`),
    problems: inv.problems.length,
    files: inv.stats.files,
  }) + '\n',
);
