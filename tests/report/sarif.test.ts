import { describe, expect, it } from 'vitest';
import { artifactUri, sarif } from '../../src/report/sarif.js';
import { buildInventory, inventoryWithUnknownKind } from '../builders/inventory-builder.js';
import { validateReport, validateSarif } from '../helpers/validate-report.js';
import { golden } from './golden.js';

type J = Record<string, any>;
const inv = buildInventory();

describe('sarif encoder', () => {
  it('is valid SARIF 2.1.0 and matches its golden file', async () => {
    const out = sarif.encode(inv);
    await validateReport('sarif', out);
    golden('report.sarif', out);
  });
  it('the validator can fail', () => {
    const log = JSON.parse(sarif.encode(inv)) as J;
    log.runs[0].results[0].level = 'fatal';
    expect(validateSarif(JSON.stringify(log))).not.toEqual([]);
  });
  it('every problem is a result with its rule, level, logical and artifact location', () => {
    const run = (JSON.parse(sarif.encode(inv)) as J).runs[0] as J;
    expect(run.results).toHaveLength(inv.problems.length);
    const rules = run.tool.driver.rules as J[];
    expect(rules.map((r) => r.id)).toEqual([...new Set(inv.problems.map((p) => p.code))].sort());
    for (const r of rules) expect(r.help.text.length).toBeGreaterThan(20);
    inv.problems.forEach((p, i) => {
      const r = run.results[i] as J;
      expect(rules[r.ruleIndex]?.id).toBe(p.code);
      expect(r.level).toBe({ error: 'error', warning: 'warning', info: 'note' }[p.severity]);
      expect(r.message.text).toBe(p.message);
      expect(r.locations[0].logicalLocations[0].fullyQualifiedName).toBe(p.location);
      expect(r.locations[0].physicalLocation.artifactLocation.uri).toBe(p.location.split('!/')[0]);
    });
    // Two problems with one code share one rule; its default level is the worst seen.
    expect(rules.find((r) => r.id === 'unsupported')?.defaultConfiguration.level).toBe('warning');
  });
  it('artifact URIs are encoded and absolute paths become file URIs', () => {
    expect(artifactUri('/tmp/my fw.img!/system')).toBe('file:///tmp/my%20fw.img');
    expect(artifactUri('dir/a#b.zip')).toBe('dir/a%23b.zip');
  });
  it('models are not results; where they went: run.properties counts them, stats are kept there', () => {
    const run = (JSON.parse(sarif.encode(inventoryWithUnknownKind())) as J).runs[0] as J;
    expect(run.properties.models).toBe(inv.components.filter((c) => c.kind === 'model').length);
    expect(run.properties.stats).toEqual(inv.stats);
  });
  it('an inventory without problems is still a valid log with no results', async () => {
    const out = sarif.encode({ ...inv, problems: [] });
    await validateReport('sarif', out);
    expect((JSON.parse(out) as J).runs[0].results).toEqual([]);
  });
});
