import { describe, expect, it } from 'vitest';
import { spdx } from '../../src/report/spdx.js';
import { buildInventory, inventoryWithUnknownKind } from '../builders/inventory-builder.js';
import { spdxSchemaAvailable, validateReport, validateSpdx } from '../helpers/validate-report.js';
import { golden } from './golden.js';

type J = Record<string, any>;
const inv = buildInventory();
const doc = (i = inv): J[] => (JSON.parse(spdx.encode(i)) as J)['@graph'] as J[];
const idEnd = (e: J): string => String(e.spdxId).split(':').slice(-2).join(':');
const haveSchema = spdxSchemaAvailable();
if (!haveSchema) console.warn('SPDX 3.0.1 schema absent (../shared/schemas/spdx-3.0.1): schema tests skipped');

describe('spdx encoder', () => {
  it('matches its golden file', async () => {
    const out = spdx.encode(inv);
    await validateReport('spdx', out);
    golden('report.spdx.json', out);
  });
  it.skipIf(!haveSchema)('is valid against the SPDX 3.0.1 JSON schema, and the validator can fail', () => {
    expect(validateSpdx(spdx.encode(inv))).toEqual([]);
    expect(validateSpdx(spdx.encode(buildInventory({ timestamp: '2025-01-02T03:04:05.123Z' })))).toEqual([]);
    const bad = JSON.parse(spdx.encode(inv)) as J;
    bad['@graph'].find((e: J) => e.type === 'ai_AIPackage').software_primaryPurpose = 'brain';
    expect(validateSpdx(JSON.stringify(bad))).not.toEqual([]);
  });
  it.skipIf(!haveSchema)('a kind added later is a software_Package and the document stays valid', () => {
    const u = inventoryWithUnknownKind();
    const out = spdx.encode(u);
    expect(validateSpdx(out)).toEqual([]);
    const npu = doc(u).find((e) => String(e.spdxId).endsWith(u.components.at(-1)!.id))!;
    expect([npu.type, npu.software_primaryPurpose]).toEqual(['software_Package', 'other']);
  });
  it('each model is an ai_AIPackage with sha256, each data item a dataset_DatasetPackage', () => {
    const g = doc();
    for (const c of inv.components) {
      const e = g.find((x) => idEnd(x) === c.id)!;
      const expected: Record<string, string> = {
        model: 'ai_AIPackage',
        data: 'dataset_DatasetPackage',
        image: 'software_Package',
        partition: 'software_Package',
        archive: 'software_Package',
        app: 'software_Package',
        runtime: 'software_Package',
        service: 'software_Package',
      };
      expect(e.type).toBe(expected[c.kind]);
      expect(e.verifiedUsing).toEqual(c.sha256 === undefined ? undefined : [{ type: 'Hash', algorithm: 'sha256', hashValue: c.sha256 }]);
    }
    const tfl = g.find((x) => x.name === 'Golden detector')!;
    expect(tfl.ai_typeOfModel).toEqual(['SSD MobileNetV2']);
    expect(tfl.ai_hyperparameter).toContainEqual({ type: 'DictionaryEntry', key: 'parameters', value: '108' });
    expect(tfl.ai_limitation).toContain('TFLite_Detection_PostProcess');
  });
  it('relationships: contains, hasDataFile from the model, licences declared', () => {
    const g = doc();
    const rels = g.filter((e) => e.type === 'Relationship');
    const find = (type: string, fromEnd: string): J | undefined => rels.find((r) => r.relationshipType === type && String(r.from).endsWith(fromEnd));
    const llm = inv.components.find((c) => c.name === 'tiny-llm')!;
    const data = inv.components.find((c) => c.kind === 'data')!;
    expect(find('hasDataFile', llm.id)!.to).toEqual([expect.stringMatching(new RegExp(`${data.id}$`))]);
    for (const r of inv.relationships.filter((x) => x.type === 'contains'))
      expect(find('contains', r.from)!.to.some((t: string) => t.endsWith(r.to))).toBe(true);
    const lic = find('hasDeclaredLicense', inv.components.find((c) => c.name === 'Golden detector')!.id)!;
    expect(g.find((e) => e.spdxId === lic.to[0])).toMatchObject({ type: 'simplelicensing_LicenseExpression', simplelicensing_licenseExpression: 'Apache-2.0' });
    const vendor = find('hasDeclaredLicense', llm.id)!;
    expect(g.find((e) => e.spdxId === vendor.to[0])).toMatchObject({ type: 'simplelicensing_SimpleLicensingText' });
  });
  it('software: purl, CPE, supplier, purposes; an app links its runtime dynamically and depends on its service', () => {
    const g = doc();
    const byEnd = (id: string): J => g.find((x) => idEnd(x) === id)!;
    const rt = inv.components.find((c) => c.kind === 'runtime')!;
    const app = inv.components.find((c) => c.kind === 'app')!;
    const svc = inv.components.find((c) => c.kind === 'service')!;
    const model = inv.components.find((c) => c.name === 'Golden detector')!;
    const r = byEnd(rt.id);
    expect(r).toMatchObject({
      software_primaryPurpose: 'framework',
      software_packageVersion: '2.14.0',
      software_packageUrl: 'pkg:maven/org.tensorflow/tensorflow-lite@2.14.0',
      externalIdentifier: [{ type: 'ExternalIdentifier', externalIdentifierType: 'cpe23', identifier: 'cpe:2.3:a:google:tensorflow:2.14.0:*:*:*:*:*:*:*' }],
    });
    expect(g.find((e) => e.spdxId === r.suppliedBy)).toMatchObject({ type: 'Agent', name: 'Google' });
    expect(byEnd(app.id).software_primaryPurpose).toBe('application');
    const s = byEnd(svc.id);
    expect(s.externalRef).toEqual([{ type: 'ExternalRef', externalRefType: 'other', locator: ['https://api.openai.com'], comment: 'service endpoint' }]);
    const rels = g.filter((e) => e.type === 'Relationship' && String(e.from).endsWith(app.id));
    const to = (type: string): string[] => (rels.find((x) => x.relationshipType === type)?.to ?? []).map((t: string) => t.split(':').slice(-2).join(':'));
    expect(to('hasDynamicLink')).toEqual([rt.id]);
    expect(to('dependsOn')).toEqual([svc.id]);
    expect(to('contains')).toEqual([model.id]);
    const lic = g.find((e) => e.type === 'Relationship' && e.relationshipType === 'hasDeclaredLicense' && String(e.from).endsWith(rt.id))!;
    expect(g.find((e) => e.spdxId === lic.to[0])).toMatchObject({ simplelicensing_licenseExpression: 'Apache-2.0' });
  });
  it('where the rest went: locations as property entries, problems as annotations', () => {
    const g = doc();
    const carved = g.find((x) => x.name === 'libpacked.so@4096')!;
    const props = carved.extension[0].extension_cdxProperty as J[];
    expect(props).toContainEqual({
      type: 'extension_CdxPropertyEntry',
      extension_cdxPropName: 'aibom:location',
      extension_cdxPropValue: 'firmware.img!/system!/lib/libpacked.so @4096+1126',
    });
    const notes = g.filter((e) => e.type === 'Annotation');
    expect(notes).toHaveLength(inv.problems.length);
    const archive = g.find((x) => x.name === 'Pay.apk')!;
    expect(notes.filter((n) => n.subject === archive.spdxId)).toHaveLength(2);
  });
  it('is deterministic and takes its time from the inventory only', () => {
    expect(spdx.encode(inv)).toBe(spdx.encode(buildInventory()));
    expect(doc()[0]!.created).toBe('1970-01-01T00:00:00Z');
    expect(doc(buildInventory({ timestamp: '2025-01-02T03:04:05.123Z' }))[0]!.created).toBe('2025-01-02T03:04:05Z');
  });
});
