// Runs one scan in a process of its own so that its peak RSS is the scanner's alone; prints JSON.
// AIBOM_BENCH_FORMATS=onnx,tflite restricts the model-format registry (to measure what the other
// formats cost every scan).
import { formats, scan } from '../dist/index.js';

const inputs = process.argv.slice(2);
const only = process.env.AIBOM_BENCH_FORMATS?.split(',');
const options = only === undefined ? {} : { formats: formats.filter((f) => only.includes(f.id)) };
const t0 = performance.now();
const inv = await scan(inputs, options);
const ms = performance.now() - t0;
process.stdout.write(
  JSON.stringify({
    ms,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    models: inv.components.filter((c) => c.kind === 'model').flatMap((c) => c.locations.map((l) => `${l.path} ${c.model.format} ${c.sha256}`)),
    problems: inv.problems.length,
    files: inv.stats.files,
  }) + '\n',
);
