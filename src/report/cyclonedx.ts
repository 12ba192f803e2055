import type { Component, DataComponent, Inventory, ModelComponent, Relationship, SoftwareComponent, Subject } from '../inventory/schema.js';
import {
  CONFIDENCE_NUMBER,
  canonicalJson,
  cmp,
  contentUuid,
  edgesFrom,
  metadataProperties,
  partsByModel,
  readersText,
  subjectRef,
  tensorText,
} from './common.js';
import { spdxLicenseId } from './licenses.js';
import type { ReportEncoder, ReportOptions } from './types.js';

/**
 * CycloneDX 1.6 (default) or 1.7 JSON, an ML-BOM:
 * - each model a `machine-learning-model` component (bom-ref = component id) with SHA-256, licence,
 *   `modelCard.modelParameters` from the normalized card, `evidence.identity` / `evidence.occurrences`
 *   and its per-format metadata as `aibom:<format>:<key>` properties; its parts (`part-of`) and
 *   associated files nested under it;
 * - images as `firmware`, partitions and archives as `file` components (their reader in properties);
 * - software from the runtime rules: a runtime as `framework` (it hosts the model), an SDK or a package
 *   as `library`, an app as `application`, each with `purl`, `cpe`, its vendor as `publisher` and its
 *   licence; the rule, the formats it loads and the rule's own properties as `aibom:` properties;
 * - a cloud AI service as a BOM-level `services` entry with its endpoint (`https://` + the host the
 *   inventory records: these APIs are reached over HTTPS), its vendor as `provider`;
 * - kinds this version does not know are kept as `file` components with `aibom:kind`;
 * - the scanned inputs as `metadata.component`; `contains`, `ships`, `loads`, `depends-on`, `part-of`
 *   and `describes` as `dependencies`; every edge also as a typed `aibom:relationship:<type>` property
 *   (`can-load` only there: a runtime able to load a format does not make either depend on the other);
 *   problems and stats as BOM-level and metadata properties (CycloneDX annotations need a timestamp,
 *   which we only have when asked for).
 * Deterministic: the serial number is a UUID derived from the inventory; no clock.
 * Not handled: CycloneDX XML; VEX.
 */
export const CYCLONEDX_SPEC_VERSIONS = ['1.6', '1.7'] as const;

type Json = Record<string, unknown>;
type Property = { name: string; value: string };

/** Our evidence techniques in CycloneDX's vocabulary (every technique of the inventory schema has a row). */
const TECHNIQUE: Record<Component['evidence'][number]['technique'], string> = {
  magic: 'binary-analysis',
  structure: 'binary-analysis',
  filename: 'filename',
  reference: 'manifest-analysis',
  'binary-analysis': 'binary-analysis',
  'manifest-analysis': 'manifest-analysis',
  attestation: 'attestation',
};
/** CycloneDX component types of the kinds this version knows and of those announced for later ones. */
const KIND_TYPE: Record<string, string> = {
  model: 'machine-learning-model',
  data: 'data',
  image: 'firmware',
  partition: 'file',
  archive: 'file',
  runtime: 'framework',
  sdk: 'library',
  package: 'library',
  app: 'application',
};

function prop(name: string, value: string | number | boolean | undefined): Property[] {
  return value === undefined || value === '' ? [] : [{ name, value: String(value) }];
}

function hashes(sha256: string | undefined): Json {
  return sha256 === undefined ? {} : { hashes: [{ alg: 'SHA-256', content: sha256 }] };
}

function evidence(c: Component): Json {
  const methods: Json[] = c.evidence.map((e) => ({
    technique: TECHNIQUE[e.technique],
    confidence: CONFIDENCE_NUMBER[e.confidence],
    value: e.detail,
  }));
  // The same bytes found at several places were matched by their hash: that is itself evidence.
  if (c.locations.length > 1 && c.sha256 !== undefined) {
    methods.push({ technique: 'hash-comparison', confidence: 1, value: `same sha256 at ${c.locations.length} locations` });
  }
  const identity: Json = { field: 'hash', confidence: CONFIDENCE_NUMBER[c.confidence] };
  if (c.sha256 !== undefined) identity.concludedValue = c.sha256;
  if (methods.length > 0) identity.methods = methods;
  const occurrences = c.locations.map((l) => {
    const o: Json = { location: l.path };
    if (l.offset !== undefined) o.offset = l.offset;
    o.additionalContext = `readers: ${readersText(l)}${l.length !== undefined ? `; length ${l.length}` : ''}`;
    return o;
  });
  return { identity: [identity], occurrences };
}

function relationshipProps(id: string, from: ReadonlyMap<string, Relationship[]>): Property[] {
  return (from.get(id) ?? []).map((r) => ({ name: `aibom:relationship:${r.type}`, value: r.to }));
}

function licenses(text: string | undefined): Json {
  if (text === undefined || text.trim() === '') return {};
  const id = spdxLicenseId(text);
  return { licenses: [{ license: id !== undefined ? { id } : { name: text } }] };
}

function baseComponent(c: Component, from: ReadonlyMap<string, Relationship[]>, extra: Property[]): Json {
  const kind = c.kind as string;
  const out: Json = { type: KIND_TYPE[kind] ?? 'file', 'bom-ref': c.id, name: c.name };
  if (c.version !== undefined) out.version = c.version;
  Object.assign(out, hashes(c.sha256));
  const props: Property[] = [
    ...prop('aibom:kind', kind),
    ...prop('aibom:size', c.size),
    ...prop('aibom:confidence', c.confidence),
    ...extra,
    ...relationshipProps(c.id, from),
  ];
  // A kind this version does not know keeps its own record (`accelerator: {...}`): its fields become properties.
  if (!(kind in KIND_TYPE)) {
    const rec = (c as unknown as Record<string, unknown>)[kind];
    if (rec !== null && typeof rec === 'object')
      props.push(...metadataProperties(kind, rec as Record<string, unknown>).map(([name, value]) => ({ name, value })));
  }
  if ('software' in c) Object.assign(out, softwareFields(c, props));
  out.properties = props;
  out.evidence = evidence(c);
  return out;
}

/**
 * The identity fields of a runtime, SDK, package or app (publisher, licence, purl, cpe, in the order the
 * CycloneDX schema lists them); pushes the rest of its `software` record onto `props`.
 */
function softwareFields(c: SoftwareComponent, props: Property[]): Json {
  const s = c.software;
  const out: Json = {};
  if (s.vendor !== undefined) out.publisher = s.vendor;
  Object.assign(out, licenses(s.license));
  if (s.cpe !== undefined) out.cpe = s.cpe;
  if (s.purl !== undefined) out.purl = s.purl;
  props.push(...prop('aibom:rule', s.rule), ...prop('aibom:loads', s.loads?.join(', ')), ...prop('aibom:endpoint', s.endpoint));
  for (const [k, v] of Object.entries(s.properties ?? {}).sort((a, b) => cmp(a[0], b[0]))) props.push(...prop(`aibom:${c.kind}:${k}`, v));
  return out;
}

/** A cloud AI service as a CycloneDX service: where it is called from stays in `aibom:location` properties. */
function serviceEntry(c: SoftwareComponent, from: ReadonlyMap<string, Relationship[]>): Json {
  const s = c.software;
  const out: Json = { 'bom-ref': c.id };
  if (s.vendor !== undefined) out.provider = { name: s.vendor };
  out.name = c.name;
  if (c.version !== undefined) out.version = c.version;
  if (s.endpoint !== undefined) out.endpoints = [s.endpoint.includes('://') ? s.endpoint : `https://${s.endpoint}`];
  Object.assign(out, licenses(s.license));
  const props: Property[] = [...prop('aibom:kind', c.kind), ...prop('aibom:confidence', c.confidence)];
  props.push(...prop('aibom:rule', s.rule), ...prop('aibom:endpoint', s.endpoint));
  for (const [k, v] of Object.entries(s.properties ?? {}).sort((a, b) => cmp(a[0], b[0]))) props.push(...prop(`aibom:service:${k}`, v));
  for (const l of c.locations) props.push({ name: 'aibom:location', value: l.offset !== undefined ? `${l.path} @${l.offset}` : l.path });
  for (const e of c.evidence) props.push({ name: 'aibom:evidence', value: `${e.technique} (${e.confidence}): ${e.detail}` });
  props.push(...relationshipProps(c.id, from));
  out.properties = props;
  return out;
}

function modelComponent(m: ModelComponent, parts: readonly Component[], from: ReadonlyMap<string, Relationship[]>): Json {
  const card = m.model.card;
  const ops = card.operators.filter((o) => o.count > 0);
  const extra: Property[] = [
    ...prop('aibom:format', m.model.format),
    ...prop('aibom:format-version', card.formatVersion),
    ...prop('aibom:producer', card.producer),
    ...prop('aibom:producer-version', card.producerVersion),
    ...prop('aibom:task', card.task),
    ...prop('aibom:architecture', card.architecture),
    ...prop('aibom:parameters', card.parameters),
    ...prop('aibom:parameter-bytes', card.parameterBytes),
    ...prop('aibom:weight-types', card.weightTypes.join(', ')),
    ...prop('aibom:quantized', card.quantized),
    ...prop('aibom:quantization', card.quantization),
    ...prop('aibom:custom-operators', card.customOperators),
    ...ops.map((o) => ({
      name: o.custom ? 'aibom:custom-operator' : 'aibom:operator',
      value: `${o.domain !== undefined ? `${o.domain}:` : ''}${o.name} x${o.count}`,
    })),
    ...metadataProperties(m.model.format, m.model.metadata).map(([name, value]) => ({ name, value })),
  ];
  const out = baseComponent(m, from, extra);
  const head: Json = { type: out.type, 'bom-ref': out['bom-ref'], name: out.name };
  const version = m.version ?? card.version;
  if (version !== undefined) head.version = version;
  if (card.description !== undefined) head.description = card.description;
  if (card.author !== undefined) head.authors = [{ name: card.author }];
  const params: Json = {};
  if (card.task !== undefined) params.task = card.task;
  if (card.architecture !== undefined) params.architectureFamily = card.architecture;
  if (card.inputs.length > 0) params.inputs = card.inputs.map((t) => ({ format: tensorText(t) }));
  if (card.outputs.length > 0) params.outputs = card.outputs.map((t) => ({ format: tensorText(t) }));
  const modelCard: Json = {};
  if (Object.keys(params).length > 0) modelCard.modelParameters = params;
  const custom = ops.filter((o) => o.custom);
  if (custom.length > 0) {
    // A runtime without these operators cannot run the model: the limitation a buyer needs to know.
    modelCard.considerations = { technicalLimitations: [`needs custom operators: ${custom.map((o) => `${o.domain ?? 'custom'}:${o.name}`).join(', ')}`] };
  }
  const nested: Json[] = [
    ...parts.map((p) => baseComponent(p, from, p.kind === 'data' ? prop('aibom:data-role', (p as DataComponent).data.role) : [])),
    ...(m.model.associatedFiles ?? []).map((a) => {
      const f: Json = { type: 'file', 'bom-ref': `${m.id}/${a.name}`, name: a.name, ...hashes(a.sha256) };
      if (a.description !== undefined) f.description = a.description;
      f.properties = [...prop('aibom:size', a.size), ...prop('aibom:associated-file-type', a.type), { name: 'aibom:associated-file-of', value: m.id }];
      return f;
    }),
  ];
  return {
    ...head,
    ...hashes(m.sha256),
    ...licenses(card.license),
    properties: out.properties,
    evidence: out.evidence,
    ...(Object.keys(modelCard).length > 0 ? { modelCard } : {}),
    ...(nested.length > 0 ? { components: nested } : {}),
  };
}

function subjectComponent(s: Subject, inv: Inventory): Json {
  // A file input that is itself an image we opened is firmware; anything else we only know as a file.
  const isImage = inv.components.some((c) => c.kind === 'image' && c.locations.some((l) => l.hops.length === 1 && l.path === s.location));
  return {
    type: s.kind === 'file' && isImage ? 'firmware' : 'file',
    'bom-ref': subjectRef(s),
    name: s.location,
    ...hashes(s.sha256),
    properties: [...prop('aibom:subject-kind', s.kind), ...prop('aibom:size', s.size)],
  };
}

function metadataComponent(inv: Inventory): Json | undefined {
  if (inv.subjects.length === 0) return undefined;
  if (inv.subjects.length === 1) return subjectComponent(inv.subjects[0]!, inv);
  return {
    type: 'file',
    'bom-ref': 'subjects',
    name: inv.subjects.map((s) => s.location).join(', '),
    components: inv.subjects.map((s) => subjectComponent(s, inv)),
  };
}

/** The refs each component depends on: `contains`, `ships`, `loads`, `depends-on` point from the holder
 * or user; `part-of` and `describes` point from the part, so they are turned round. `can-load` is a
 * capability, not a dependency: it stays a property. */
function dependencies(inv: Inventory, allRefs: readonly string[]): Json[] {
  const deps = new Map<string, Set<string>>(allRefs.map((r) => [r, new Set<string>()]));
  const known = new Set(allRefs);
  for (const r of inv.relationships) {
    if (r.type === 'can-load') continue;
    const [a, b] = r.type === 'part-of' || r.type === 'describes' ? [r.to, r.from] : [r.from, r.to];
    if (known.has(a) && known.has(b)) deps.get(a)!.add(b);
  }
  if (deps.has('subjects')) for (const s of inv.subjects) deps.get('subjects')!.add(subjectRef(s));
  // Each input depends on the components found directly in it (those no container holds).
  const held = new Set<string>();
  for (const r of inv.relationships) {
    if (r.type === 'contains') held.add(r.to);
    else if (r.type === 'part-of') held.add(r.from);
  }
  for (const s of inv.subjects) {
    const ref = subjectRef(s);
    if (!deps.has(ref)) continue;
    for (const c of inv.components) {
      if (held.has(c.id)) continue;
      const first = c.locations[0]?.hops[0]?.path ?? '';
      if (first === s.location || first.startsWith(`${s.location}/`)) deps.get(ref)!.add(c.id);
    }
  }
  return [...deps.entries()].sort((x, y) => cmp(x[0], y[0])).map(([ref, on]) => (on.size > 0 ? { ref, dependsOn: [...on].sort(cmp) } : { ref }));
}

/** Encodes an inventory as a CycloneDX BOM object (not yet serialized). */
export function cyclonedxBom(inv: Inventory, options: ReportOptions = {}): Json {
  const specVersion = options.specVersion ?? '1.6';
  if (!(CYCLONEDX_SPEC_VERSIONS as readonly string[]).includes(specVersion)) {
    throw new Error(`Invalid CycloneDX spec version. '${specVersion}' is not one of ${CYCLONEDX_SPEC_VERSIONS.join(', ')}.`);
  }
  const from = edgesFrom(inv.relationships);
  const parts = partsByModel(inv);
  const nestedIds = new Set([...parts.values()].flat().map((c) => c.id));
  const components: Json[] = [];
  const services: Json[] = [];
  for (const c of inv.components) {
    if (nestedIds.has(c.id)) continue;
    if (c.kind === 'service') services.push(serviceEntry(c, from));
    else if (c.kind === 'model') components.push(modelComponent(c, parts.get(c.id) ?? [], from));
    else
      components.push(
        baseComponent(c, from, 'container' in c ? prop('aibom:reader', c.container.reader) : c.kind === 'data' ? prop('aibom:data-role', c.data.role) : []),
      );
  }
  const metadata: Json = {};
  if (inv.timestamp !== undefined) metadata.timestamp = inv.timestamp;
  metadata.tools = { components: [{ type: 'application', name: inv.tool.name, version: inv.tool.version }] };
  const meta = metadataComponent(inv);
  if (meta !== undefined) metadata.component = meta;
  metadata.properties = [
    { name: 'aibom:inventory-schema', value: inv.schema },
    ...Object.entries(inv.stats).map(([k, v]) => ({ name: `aibom:stats:${k}`, value: String(v) })),
  ];
  const subjectRefs = meta === undefined ? [] : [String(meta['bom-ref']), ...(inv.subjects.length > 1 ? inv.subjects.map(subjectRef) : [])];
  const allRefs = [...subjectRefs, ...inv.components.map((c) => c.id)];
  const bom: Json = {
    $schema: `http://cyclonedx.org/schema/bom-${specVersion}.schema.json`,
    bomFormat: 'CycloneDX',
    specVersion,
    serialNumber: `urn:uuid:${contentUuid(`cyclonedx ${specVersion}\u0000${canonicalJson(inv)}`)}`,
    version: 1,
    metadata,
    components,
    ...(services.length > 0 ? { services } : {}),
    dependencies: dependencies(inv, allRefs),
  };
  // Problems have no CycloneDX element of their own (annotations require a timestamp): one property each.
  if (inv.problems.length > 0) {
    bom.properties = inv.problems.map((p) => ({ name: `aibom:problem:${p.severity}:${p.code}`, value: `${p.location}: ${p.message}` }));
  }
  return bom;
}

export const cyclonedx: ReportEncoder = {
  id: 'cyclonedx',
  description: 'CycloneDX 1.6 (or 1.7) JSON ML-BOM: models with model cards, evidence, dependencies',
  extension: 'cdx.json',
  encode: (inv, options) => `${JSON.stringify(cyclonedxBom(inv, options), null, 2)}\n`,
};
