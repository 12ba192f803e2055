import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cyclonedx, cyclonedxBom } from '../../src/report/cyclonedx.js';
import { SPDX_LICENSE_IDS } from '../../src/report/licenses.js';
import { buildInventory, inventoryWithUnknownKind } from '../builders/inventory-builder.js';
import { validateCycloneDx, validateReport } from '../helpers/validate-report.js';
import { golden } from './golden.js';

type J = Record<string, any>;
const inv = buildInventory();
const bom = (opts = {}): J => JSON.parse(cyclonedx.encode(inv, opts)) as J;
const byRef = (b: J): Map<string, J> => {
  const m = new Map<string, J>();
  const walk = (cs: J[] | undefined): void => {
    for (const c of cs ?? []) {
      m.set(c['bom-ref'], c);
      walk(c.components);
    }
  };
  walk(b.components);
  return m;
};
const props = (c: J, name: string): string[] => (c.properties as J[]).filter((p) => p.name === name).map((p) => p.value as string);

describe('cyclonedx encoder', () => {
  it('1.6 output is valid against the official strict schema and matches its golden file', async () => {
    const out = cyclonedx.encode(inv);
    await validateReport('cyclonedx', out);
    golden('cyclonedx-1.6.json', out);
  });
  it('1.7 output is valid against the 1.7 schema and matches its golden file', async () => {
    const out = cyclonedx.encode(inv, { specVersion: '1.7' });
    expect(JSON.parse(out).specVersion).toBe('1.7');
    await validateReport('cyclonedx', out);
    golden('cyclonedx-1.7.json', out);
  });
  it('rejects a spec version it cannot write', () => {
    expect(() => cyclonedx.encode(inv, { specVersion: '1.4' })).toThrow(/1\.4/);
  });
  it('the validator can fail: a broken BOM is reported', async () => {
    const b = bom();
    b.components[0].type = 'not-a-type';
    expect(await validateCycloneDx(JSON.stringify(b))).not.toEqual([]);
  });
  it('is deterministic: serial number derived from content, no timestamp unless the inventory has one', () => {
    const a = bom();
    expect(a.serialNumber).toBe(bom().serialNumber);
    expect(a.serialNumber).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.metadata.timestamp).toBeUndefined();
    const t = JSON.parse(cyclonedx.encode(buildInventory({ timestamp: '2025-01-02T03:04:05Z' }))) as J;
    expect(t.metadata.timestamp).toBe('2025-01-02T03:04:05Z');
    expect(t.serialNumber).not.toBe(a.serialNumber);
    expect(bom({ specVersion: '1.7' }).serialNumber).not.toBe(a.serialNumber);
  });
  it('every model is a machine-learning-model with its hash, model card, evidence and licence', () => {
    const refs = byRef(bom());
    const models = inv.components.filter((c) => c.kind === 'model');
    for (const m of models) {
      const c = refs.get(m.id)!;
      expect(c.type).toBe('machine-learning-model');
      expect(c.hashes).toEqual([{ alg: 'SHA-256', content: m.sha256 }]);
      expect(c.evidence.occurrences.map((o: J) => o.location)).toEqual(m.locations.map((l) => l.path));
    }
    const tfl = refs.get(models.find((m) => m.name === 'Golden detector')!.id)!;
    expect(tfl.licenses).toEqual([{ license: { id: 'Apache-2.0' } }]);
    expect(tfl.modelCard.modelParameters).toEqual({
      task: 'object-detection',
      architectureFamily: 'SSD MobileNetV2',
      inputs: [{ format: 'input uint8[1,96,96,3]' }],
      outputs: [{ format: 'out uint8[1,94,94,4]' }],
    });
    expect(tfl.evidence.identity[0]).toMatchObject({ field: 'hash', confidence: 0.9, methods: [{ technique: 'binary-analysis', confidence: 0.9 }] });
    // The associated file is nested under its model.
    expect(tfl.components.map((x: J) => [x.type, x.name])).toEqual([['file', 'labels.txt']]);
    const llm = refs.get(models.find((m) => m.name === 'tiny-llm')!.id)!;
    expect(llm.licenses).toEqual([{ license: { name: 'Vendor licence, see LICENSE.txt' } }]);
    expect(props(llm, 'aibom:quantization')).toEqual(['int4-block32']);
  });
  it('a model found twice has two occurrences and hash-comparison evidence; a carved one its offset', () => {
    const refs = byRef(bom());
    const seg = refs.get(inv.components.find((c) => c.name === 'seg.onnx')!.id)!;
    expect(seg.evidence.occurrences).toHaveLength(2);
    expect(seg.evidence.identity[0].methods.map((x: J) => x.technique)).toContain('hash-comparison');
    expect(props(seg, 'aibom:onnx:opset')).toEqual(['ai.onnx:17, com.microsoft:1']);
    expect(props(seg, 'aibom:custom-operator')).toEqual(['com.microsoft:FusedGelu x1']);
    expect(seg.modelCard.considerations.technicalLimitations[0]).toContain('com.microsoft:FusedGelu');
    const carved = refs.get(inv.components.find((c) => c.name === 'libpacked.so@4096')!.id)!;
    expect(carved.evidence.occurrences).toEqual([
      { location: 'firmware.img!/system!/lib/libpacked.so', offset: 4096, additionalContext: 'readers: file > gpt > ext4; length 1126' },
    ]);
    expect(carved.evidence.identity[0].confidence).toBe(0.6);
  });
  it('a model part is nested under its model, never top level; containers are components with hashes', () => {
    const b = bom();
    const data = inv.components.find((c) => c.kind === 'data')!;
    expect(b.components.map((c: J) => c['bom-ref'])).not.toContain(data.id);
    const llm = byRef(b).get(inv.components.find((c) => c.name === 'tiny-llm')!.id)!;
    expect(llm.components[0]).toMatchObject({ type: 'data', 'bom-ref': data.id, hashes: [{ alg: 'SHA-256', content: data.sha256 }] });
    expect(props(llm.components[0], 'aibom:relationship:part-of')).toEqual([llm['bom-ref']]);
    const types = Object.fromEntries(inv.components.filter((c) => 'container' in c).map((c) => [c.kind, byRef(b).get(c.id)!.type]));
    expect(types).toEqual({ archive: 'file', image: 'firmware', partition: 'file' });
  });
  it('subjects are the metadata component with hashes; relationships are dependencies', () => {
    const b = bom();
    expect(b.metadata.component.components.map((c: J) => [c.type, c.name, c.hashes?.[0]?.content])).toEqual([
      ['file', 'extra', undefined],
      ['firmware', 'firmware.img', inv.subjects[1]!.sha256],
    ]);
    const deps = new Map<string, string[]>(b.dependencies.map((d: J) => [d.ref, d.dependsOn ?? []]));
    for (const r of inv.relationships) {
      if (r.type === 'part-of') expect(deps.get(r.to)).toContain(r.from);
      else if (r.type === 'can-load') expect(deps.get(r.from) ?? []).not.toContain(r.to);
      else expect(deps.get(r.from)).toContain(r.to);
    }
    const extraRef = b.metadata.component.components[0]['bom-ref'];
    expect(deps.get(extraRef)).toEqual([]); // seg.onnx in extra/ is also in the partition, which holds it
  });
  it('problems and stats are kept: where they went', () => {
    const b = bom();
    expect(b.properties).toHaveLength(inv.problems.length);
    for (const p of inv.problems) expect(b.properties).toContainEqual({ name: `aibom:problem:${p.severity}:${p.code}`, value: `${p.location}: ${p.message}` });
    expect(b.metadata.properties).toContainEqual({ name: 'aibom:stats:duplicates', value: '1' });
  });
  it('a component of a kind added later is kept, typed, and still valid', async () => {
    const u = inventoryWithUnknownKind();
    const out = cyclonedx.encode(u);
    await validateReport('cyclonedx', out);
    const npu = byRef(JSON.parse(out)).get(u.components.at(-1)!.id)!;
    expect(npu.type).toBe('file');
    expect(props(npu, 'aibom:kind')).toEqual(['accelerator']);
    expect(props(npu, 'aibom:accelerator:name')).toEqual(['rknpu2']);
  });
  it('a runtime is a framework with purl, CPE, publisher and licence; an app an application', () => {
    const refs = byRef(bom());
    const rt = inv.components.find((c) => c.kind === 'runtime')!;
    const c = refs.get(rt.id)!;
    expect(c).toMatchObject({
      type: 'framework',
      name: 'TensorFlow Lite',
      version: '2.14.0',
      publisher: 'Google',
      purl: 'pkg:maven/org.tensorflow/tensorflow-lite@2.14.0',
      cpe: 'cpe:2.3:a:google:tensorflow:2.14.0:*:*:*:*:*:*:*',
      licenses: [{ license: { id: 'Apache-2.0' } }],
    });
    expect(props(c, 'aibom:loads')).toEqual(['tflite']);
    expect(props(c, 'aibom:runtime:elfMachine')).toEqual(['aarch64']);
    const app = refs.get(inv.components.find((x) => x.kind === 'app')!.id)!;
    expect([app.type, app.name, app.version, app.publisher]).toEqual(['application', 'com.example.pay', '3.1.0', 'Example Pay Ltd']);
    expect(props(app, 'aibom:app:androidPackage')).toEqual(['com.example.pay']);
  });
  it('a cloud AI service is a BOM service with its endpoint, not a component; the app depends on it', () => {
    const b = bom();
    const svc = inv.components.find((c) => c.kind === 'service')!;
    expect(byRef(b).has(svc.id)).toBe(false);
    expect(b.services).toHaveLength(1);
    expect(b.services[0]).toMatchObject({ 'bom-ref': svc.id, provider: { name: 'OpenAI' }, name: 'OpenAI API', endpoints: ['https://api.openai.com'] });
    expect(props(b.services[0], 'aibom:location')).toEqual(['firmware.img!/system!/app/Pay/Pay.apk!/classes.dex']);
    const deps = new Map<string, string[]>(b.dependencies.map((d: J) => [d.ref, d.dependsOn ?? []]));
    const app = inv.components.find((c) => c.kind === 'app')!;
    const model = inv.components.find((c) => c.name === 'Golden detector')!;
    const rt = inv.components.find((c) => c.kind === 'runtime')!;
    expect(deps.get(app.id)).toEqual([model.id, rt.id, svc.id].sort());
    // can-load is kept as a typed property of the runtime only
    expect(props(byRef(b).get(rt.id)!, 'aibom:relationship:can-load')).toEqual([model.id]);
    expect(deps.get(rt.id)).toEqual([]);
  });
  it('every SPDX id we write as a licence id is on the SPDX list CycloneDX accepts', () => {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json'));
    const list = new Set(JSON.parse(fs.readFileSync(path.join(dir, 'res/schema/spdx.SNAPSHOT.schema.json'), 'utf8')).enum as string[]);
    for (const id of SPDX_LICENSE_IDS) expect(list.has(id), id).toBe(true);
  });
  it('bom object and encoded text agree', () => {
    expect(cyclonedx.encode(inv)).toBe(`${JSON.stringify(cyclonedxBom(inv), null, 2)}\n`);
  });
});
