import type { Component, Inventory, ModelComponent, Relationship, RelationshipType, SoftwareComponent, Subject } from '../inventory/schema.js';
import { canonicalJson, cmp, contentUuid, locationText, metadataProperties, partsByModel, sha256Hex, subjectRef, tensorText } from './common.js';
import { spdxLicenseId } from './licenses.js';
import type { ReportEncoder } from './types.js';

/**
 * SPDX 3.0.1 JSON-LD with the Core, Software, AI, Dataset, SimpleLicensing and Extension profiles:
 * - each model an `ai_AIPackage` (`verifiedUsing` sha256, `ai_typeOfModel` from the card's architecture,
 *   `ai_hyperparameter` for the facts of its weights, `ai_limitation` for custom operators, the author
 *   as `originatedBy`), each data item a `dataset_DatasetPackage` (type `noAssertion`: the bytes do not
 *   say), images, partitions and archives `software_Package`, the inputs and associated files
 *   `software_File`;
 * - software from the runtime rules a `software_Package`: a runtime with purpose `framework`, an SDK or
 *   a package `library`, an app `application`, each with `software_packageUrl` (purl), a `cpe23`
 *   external identifier, its vendor as `suppliedBy` and its licence declared as a model's is; a cloud
 *   AI service (SPDX 3.0.1 has no service element) a `software_Package` with purpose `other`, its
 *   endpoint as an `ExternalRef` of type `other` and a comment saying what it is; a kind this version
 *   does not know a `software_Package` with purpose `other`;
 * - relationships: `contains` (holders, an app -> the models it ships, and inputs -> what sits
 *   directly in them), `hasDataFile` (model -> part), `hasDynamicLink` (an app -> the runtime or SDK it
 *   depends on: native libraries are linked at run time), `dependsOn` (other dependencies, such as on a
 *   service), `describes`, and `other` with a comment for edges SPDX has no word for (`loads`, `can-load`);
 * - a licence the model states as `hasDeclaredLicense` to a LicenseExpression (an SPDX id) or a
 *   SimpleLicensingText (anything else);
 * - locations, per-format metadata and card details as CycloneDX-style property entries
 *   (`extension_CdxPropertiesExtension`, names `aibom:...`), problems as `Annotation`s on the element
 *   they concern (else on the document), stats on the SBOM.
 * spdxIds are `urn:aibom:<document uuid>:<component id>`, the document uuid derived from the inventory.
 * `created` is the inventory's timestamp, else 1970-01-01T00:00:00Z: SPDX requires one and a clock
 * would make the output irreproducible.
 */
type Json = Record<string, unknown>;

const CI = '_:creationinfo';
const PURPOSE: Record<string, string> = {
  image: 'diskImage',
  partition: 'filesystemImage',
  archive: 'archive',
  runtime: 'framework',
  sdk: 'library',
  package: 'library',
  app: 'application',
  service: 'other',
};

function hash(sha256: string | undefined): Json {
  return sha256 === undefined ? {} : { verifiedUsing: [{ type: 'Hash', algorithm: 'sha256', hashValue: sha256 }] };
}

function propsExtension(pairs: ReadonlyArray<readonly [string, string]>): Json {
  const entries = pairs
    .filter(([, v]) => v !== '')
    .map(([k, v]) => ({ type: 'extension_CdxPropertyEntry', extension_cdxPropName: k, extension_cdxPropValue: v }));
  return entries.length === 0 ? {} : { extension: [{ type: 'extension_CdxPropertiesExtension', extension_cdxProperty: entries }] };
}

function commonPairs(c: Component): Array<[string, string]> {
  const pairs: Array<[string, string]> = [
    ['aibom:kind', c.kind],
    ['aibom:confidence', c.confidence],
  ];
  if (c.size !== undefined) pairs.push(['aibom:size', String(c.size)]);
  for (const l of c.locations) pairs.push(['aibom:location', locationText(l)]);
  for (const e of c.evidence) pairs.push(['aibom:evidence', `${e.technique} (${e.confidence}): ${e.detail}`]);
  return pairs;
}

/** The inventory as an SPDX 3.0.1 JSON-LD document object. */
export function spdxDocument(inv: Inventory): Json {
  const uuid = contentUuid(`spdx 3.0.1\u0000${canonicalJson(inv)}`);
  const base = `urn:aibom:${uuid}:`;
  const idOf = (ref: string): string => `${base}${ref}`;
  const graph: Json[] = [];
  const elements: string[] = [];
  const add = (e: Json): void => {
    graph.push(e);
    elements.push(String(e.spdxId));
  };
  const toolId = idOf('tool');
  const agentId = idOf('agent');
  graph.push({
    type: 'CreationInfo',
    '@id': CI,
    specVersion: '3.0.1',
    created: timestampZ(inv.timestamp),
    createdBy: [agentId],
    createdUsing: [toolId],
  });
  add({ type: 'SoftwareAgent', spdxId: agentId, creationInfo: CI, name: `${inv.tool.name} ${inv.tool.version}` });
  add({ type: 'Tool', spdxId: toolId, creationInfo: CI, name: inv.tool.name, comment: `version ${inv.tool.version}` });

  const parts = partsByModel(inv);
  const partIds = new Set([...parts.values()].flat().map((c) => c.id));
  const rels: Array<{ from: string; type: string; to: string; comment?: string }> = [];
  const agents = new Map<string, string>();
  const licences = new Map<string, string>();
  /** The spdxId of an Agent named `name`, added once. */
  const agentOf = (name: string): string => {
    let aid = agents.get(name);
    if (aid === undefined) {
      aid = idOf(`agent:${sha256Hex(name).slice(0, 16)}`);
      agents.set(name, aid);
      add({ type: 'Agent', spdxId: aid, creationInfo: CI, name });
    }
    return aid;
  };
  /** Declares `text` as the licence of element `id`: an SPDX expression when it is an SPDX id, else a licensing text. */
  const declareLicence = (id: string, text: string | undefined): void => {
    if (text === undefined || text.trim() === '') return;
    let lid = licences.get(text);
    if (lid === undefined) {
      lid = idOf(`license:${sha256Hex(text).slice(0, 16)}`);
      licences.set(text, lid);
      const spdx = spdxLicenseId(text);
      add(
        spdx !== undefined
          ? { type: 'simplelicensing_LicenseExpression', spdxId: lid, creationInfo: CI, simplelicensing_licenseExpression: spdx }
          : { type: 'simplelicensing_SimpleLicensingText', spdxId: lid, creationInfo: CI, simplelicensing_licenseText: text },
      );
    }
    rels.push({ from: id, type: 'hasDeclaredLicense', to: lid });
  };

  const subjectIds = inv.subjects.map((s) => idOf(subjectRef(s)));
  inv.subjects.forEach((s: Subject, i) => {
    add({
      type: 'software_File',
      spdxId: subjectIds[i],
      creationInfo: CI,
      name: s.location,
      ...hash(s.sha256),
      software_fileKind: s.kind === 'directory' ? 'directory' : 'file',
      software_primaryPurpose: inv.components.some((c) => c.kind === 'image' && c.locations.some((l) => l.hops.length === 1 && l.path === s.location))
        ? 'firmware'
        : s.kind === 'directory'
          ? 'other'
          : 'file',
      ...propsExtension([
        ['aibom:subject-kind', s.kind],
        ['aibom:size', String(s.size)],
      ]),
    });
  });

  for (const c of inv.components) {
    const id = idOf(c.id);
    const pairs = commonPairs(c);
    if (c.kind === 'model') {
      add(aiPackage(c, id, pairs, agentOf));
      declareLicence(id, c.model.card.license);
      for (const a of c.model.associatedFiles ?? []) {
        const fid = idOf(`${c.id}/${sha256Hex(a.name).slice(0, 16)}`);
        add({
          type: 'software_File',
          spdxId: fid,
          creationInfo: CI,
          name: a.name,
          ...(a.description !== undefined ? { description: a.description } : {}),
          ...hash(a.sha256),
          software_fileKind: 'file',
          software_primaryPurpose: 'data',
          ...propsExtension([['aibom:size', String(a.size)], ...(a.type !== undefined ? [['aibom:associated-file-type', a.type] as [string, string]] : [])]),
        });
        rels.push({ from: id, type: 'contains', to: fid });
      }
    } else if (c.kind === 'data') {
      add({
        type: 'dataset_DatasetPackage',
        spdxId: id,
        creationInfo: CI,
        name: c.name,
        ...(c.version !== undefined ? { software_packageVersion: c.version } : {}),
        ...hash(c.sha256),
        software_primaryPurpose: 'data',
        dataset_datasetType: ['noAssertion'],
        ...propsExtension([...pairs, ['aibom:data-role', c.data.role]]),
      });
    } else if ('software' in c) {
      add(softwarePackage(c, id, pairs, agentOf));
      declareLicence(id, c.software.license);
    } else {
      const kind = c.kind as string;
      const rec = (c as unknown as Record<string, unknown>)[kind === 'image' || kind === 'partition' || kind === 'archive' ? 'container' : kind];
      const extra = rec !== null && typeof rec === 'object' ? metadataProperties(kind, rec as Record<string, unknown>) : [];
      add({
        type: 'software_Package',
        spdxId: id,
        creationInfo: CI,
        name: c.name,
        ...(c.version !== undefined ? { software_packageVersion: c.version } : {}),
        ...hash(c.sha256),
        software_primaryPurpose: PURPOSE[kind] ?? 'other',
        ...propsExtension([...pairs, ...extra]),
      });
    }
  }

  const kindOf = new Map(inv.components.map((c) => [c.id, c.kind as string]));
  for (const r of inv.relationships) {
    const toKind = kindOf.get(r.to);
    if (!kindOf.has(r.from) || toKind === undefined) continue;
    rels.push(mapRelationship(r, toKind, idOf));
  }
  // Each input contains what sits directly in it (what no container or model holds).
  const held = new Set<string>();
  for (const r of inv.relationships) {
    if (r.type === 'contains') held.add(r.to);
    else if (r.type === 'part-of') held.add(r.from);
  }
  inv.subjects.forEach((s, i) => {
    for (const c of inv.components) {
      if (held.has(c.id) || partIds.has(c.id)) continue;
      const first = c.locations[0]?.hops[0]?.path ?? '';
      if (first === s.location || first.startsWith(`${s.location}/`)) rels.push({ from: subjectIds[i]!, type: 'contains', to: idOf(c.id) });
    }
  });

  // One Relationship element per (from, type, comment), `to` sorted: SPDX allows several targets.
  const grouped = new Map<string, { from: string; type: string; to: string[]; comment?: string }>();
  for (const r of rels) {
    const key = `${r.from}\u0000${r.type}\u0000${r.comment ?? ''}`;
    const g = grouped.get(key) ?? { from: r.from, type: r.type, to: [], ...(r.comment !== undefined ? { comment: r.comment } : {}) };
    if (!g.to.includes(r.to)) g.to.push(r.to);
    grouped.set(key, g);
  }
  for (const g of [...grouped.values()].sort((a, b) => cmp(a.from, b.from) || cmp(a.type, b.type) || cmp(a.comment ?? '', b.comment ?? ''))) {
    add({
      type: 'Relationship',
      spdxId: idOf(`relationship:${sha256Hex(`${g.from}\u0000${g.type}\u0000${g.comment ?? ''}`).slice(0, 16)}`),
      creationInfo: CI,
      from: g.from,
      relationshipType: g.type,
      to: g.to.sort(cmp),
      ...(g.type === 'contains' || g.type === 'hasDataFile' ? { completeness: 'noAssertion' } : {}),
      ...(g.comment !== undefined ? { comment: g.comment } : {}),
    });
  }

  // Problems: an annotation on the component found at the problem's location, else on the document.
  const docId = idOf('document');
  // Software found by rules sits at the same path as a container or a model (an app is its APK): a
  // problem there concerns what was read, so those components claim a path first.
  const byPath = new Map<string, string>();
  const readFirst = [...inv.components.filter((c) => !('software' in c)), ...inv.components.filter((c) => 'software' in c)];
  for (const c of readFirst) for (const l of c.locations) if (!byPath.has(l.path)) byPath.set(l.path, idOf(c.id));
  inv.problems.forEach((p, i) => {
    add({
      type: 'Annotation',
      spdxId: idOf(`problem:${i}`),
      creationInfo: CI,
      annotationType: 'other',
      subject: byPath.get(p.location) ?? docId,
      statement: `${p.severity} ${p.code} at ${p.location}: ${p.message}`,
      ...propsExtension([
        ['aibom:problem-severity', p.severity],
        ['aibom:problem-code', p.code],
        ['aibom:problem-location', p.location],
      ]),
    });
  });

  const sbomId = idOf('sbom');
  const sbom: Json = {
    type: 'software_Sbom',
    spdxId: sbomId,
    creationInfo: CI,
    name: `AI bill of materials of ${inv.subjects.map((s) => s.location).join(', ') || 'nothing'}`,
    software_sbomType: ['analyzed'],
    rootElement: subjectIds,
    element: [...elements],
    ...propsExtension([
      ['aibom:inventory-schema', inv.schema],
      ...Object.entries(inv.stats).map(([k, v]) => [`aibom:stats:${k}`, String(v)] as [string, string]),
    ]),
  };
  graph.push(sbom);
  graph.push({
    type: 'SpdxDocument',
    spdxId: docId,
    creationInfo: CI,
    name: String(sbom.name),
    dataLicense: idOf('data-license'),
    profileConformance: ['ai', 'core', 'dataset', 'extension', 'simpleLicensing', 'software'],
    rootElement: [sbomId],
    element: [...elements, sbomId],
  });
  // The data licence SPDX documents carry by convention: CC0-1.0.
  graph.push({ type: 'simplelicensing_LicenseExpression', spdxId: idOf('data-license'), creationInfo: CI, simplelicensing_licenseExpression: 'CC0-1.0' });
  return { '@context': 'https://spdx.org/rdf/3.0.1/spdx-context.jsonld', '@graph': graph };
}

function timestampZ(ts: string | undefined): string {
  if (ts !== undefined) {
    const d = new Date(ts);
    if (!Number.isNaN(d.getTime())) return `${d.toISOString().slice(0, 19)}Z`;
  }
  return '1970-01-01T00:00:00Z';
}

const REL: Record<RelationshipType, string> = {
  contains: 'contains',
  'part-of': 'hasDataFile',
  ships: 'contains',
  loads: 'other',
  'can-load': 'other',
  'depends-on': 'dependsOn',
  describes: 'describes',
};

function mapRelationship(r: Relationship, toKind: string, idOf: (ref: string) => string): { from: string; type: string; to: string; comment?: string } {
  // An app depending on a runtime or SDK loads its native library at run time: a dynamic link.
  const type = r.type === 'depends-on' && (toKind === 'runtime' || toKind === 'sdk') ? 'hasDynamicLink' : (REL[r.type] ?? 'other');
  // part-of points from the part; SPDX's hasDataFile points from the model.
  if (r.type === 'part-of') return { from: idOf(r.to), type, to: idOf(r.from) };
  return type === 'other' ? { from: idOf(r.from), type, to: idOf(r.to), comment: `aibom:${r.type}` } : { from: idOf(r.from), type, to: idOf(r.to) };
}

function aiPackage(m: ModelComponent, id: string, pairs: Array<[string, string]>, agentOf: (name: string) => string): Json {
  const c = m.model.card;
  const hyper: Array<[string, string | undefined]> = [
    ['parameters', c.parameters?.toString()],
    ['parameterBytes', c.parameterBytes?.toString()],
    ['weightTypes', c.weightTypes.join(', ') || undefined],
    ['quantized', c.quantized?.toString()],
    ['quantization', c.quantization],
  ];
  const custom = c.operators.filter((o) => o.custom && o.count > 0);
  const out: Json = {
    type: 'ai_AIPackage',
    spdxId: id,
    creationInfo: CI,
    name: m.name,
  };
  const version = m.version ?? c.version;
  if (version !== undefined) out.software_packageVersion = version;
  if (c.description !== undefined) out.description = c.description;
  Object.assign(out, hash(m.sha256));
  out.software_primaryPurpose = 'model';
  if (c.author !== undefined) out.originatedBy = [agentOf(c.author)];
  if (c.architecture !== undefined) out.ai_typeOfModel = [c.architecture];
  const hp = hyper.filter((h): h is [string, string] => h[1] !== undefined).map(([key, value]) => ({ type: 'DictionaryEntry', key, value }));
  if (hp.length > 0) out.ai_hyperparameter = hp;
  if (c.task !== undefined) out.ai_informationAboutApplication = `task: ${c.task}`;
  if (custom.length > 0) out.ai_limitation = `needs custom operators: ${custom.map((o) => `${o.domain ?? 'custom'}:${o.name}`).join(', ')}`;
  Object.assign(
    out,
    propsExtension([
      ...pairs,
      ['aibom:format', m.model.format],
      ...(c.formatVersion !== undefined ? [['aibom:format-version', c.formatVersion] as [string, string]] : []),
      ...(c.producer !== undefined ? [['aibom:producer', [c.producer, c.producerVersion].filter((x) => x !== undefined).join(' ')] as [string, string]] : []),
      ...c.inputs.map((t) => ['aibom:input', tensorText(t)] as [string, string]),
      ...c.outputs.map((t) => ['aibom:output', tensorText(t)] as [string, string]),
      ...c.operators
        .filter((o) => o.count > 0)
        .map(
          (o) =>
            [o.custom ? 'aibom:custom-operator' : 'aibom:operator', `${o.domain !== undefined ? `${o.domain}:` : ''}${o.name} x${o.count}`] as [string, string],
        ),
      ...metadataProperties(m.model.format, m.model.metadata),
    ]),
  );
  return out;
}

/** A runtime, SDK, package, app or service as a `software_Package` (see the module comment). */
function softwarePackage(c: SoftwareComponent, id: string, pairs: Array<[string, string]>, agentOf: (name: string) => string): Json {
  const s = c.software;
  const out: Json = { type: 'software_Package', spdxId: id, creationInfo: CI, name: c.name };
  if (c.kind === 'service')
    out.comment = `cloud AI service${s.endpoint !== undefined ? ` reached at ${s.endpoint}` : ''}, called by the software it was found in`;
  if (c.version !== undefined) out.software_packageVersion = c.version;
  Object.assign(out, hash(c.sha256));
  if (s.vendor !== undefined) out.suppliedBy = agentOf(s.vendor);
  if (s.cpe !== undefined) out.externalIdentifier = [{ type: 'ExternalIdentifier', externalIdentifierType: 'cpe23', identifier: s.cpe }];
  if (s.endpoint !== undefined) {
    const url = s.endpoint.includes('://') ? s.endpoint : `https://${s.endpoint}`;
    out.externalRef = [{ type: 'ExternalRef', externalRefType: 'other', locator: [url], comment: 'service endpoint' }];
  }
  if (s.purl !== undefined) out.software_packageUrl = s.purl;
  out.software_primaryPurpose = PURPOSE[c.kind] ?? 'other';
  const extra: Array<[string, string]> = [];
  if (s.rule !== undefined) extra.push(['aibom:rule', s.rule]);
  if (s.loads !== undefined && s.loads.length > 0) extra.push(['aibom:loads', s.loads.join(', ')]);
  if (s.endpoint !== undefined) extra.push(['aibom:endpoint', s.endpoint]);
  for (const [k, v] of Object.entries(s.properties ?? {}).sort((a, b) => cmp(a[0], b[0]))) extra.push([`aibom:${c.kind}:${k}`, v]);
  Object.assign(out, propsExtension([...pairs, ...extra]));
  return out;
}

export const spdx: ReportEncoder = {
  id: 'spdx',
  description: 'SPDX 3.0.1 JSON-LD with the AI and Dataset profiles: AI packages, datasets, relationships',
  extension: 'spdx.json',
  encode: (inv) => `${JSON.stringify(spdxDocument(inv), null, 2)}\n`,
};
