import { runtimeAnalyzers } from '../runtimes/index.js';
import type { Analyzer } from './analyzer.js';

/**
 * The built-in analyzers in the order they run on each item. Later stages register here: runtime and
 * SDK rules, cloud AI endpoints, carving, app manifests. Each has its own module and test.
 */
export const analyzers: readonly Analyzer[] = [...runtimeAnalyzers()];
