import { z } from 'zod';
import { leadingElements, XmlTokenizer } from '../decoders/xml.js';
import { FormatError, LimitError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import type { ModelCard } from '../inventory/card.js';
import { leadingByte, type Probe } from '../probe.js';
import { cmp, opt, sortCardOperators, stated } from './card-util.js';
import type { InspectContext, ModelFormat, ModelInfo, ModelWarning } from './types.js';

/*
 * OpenVINO IR: an XML descriptor `<net name=".." version="N">` holding `<layers>` (each `<layer id name
 * type version>` with `<data>` attributes and `<input>`/`<output>` ports of `<dim>`s), `<edges>` and, at
 * the end, `<rt_info>` (IR v11: `MO_version`, `Runtime_version`, `conversion_parameters/framework`...) or
 * `<meta_data>` (IR v7/v10: `MO_version`, `cli_parameters/framework`...). The weights are in a `.bin` of
 * the same base name, addressed by `Const` layers' `<data offset size>` (IR v10+) or `<blobs>` children
 * (IR v7). The XML is the model; the `.bin` is its part.
 */

/** Largest descriptor parsed (the same bound as JSON descriptors): above it, a LimitError. */
export const MAX_OPENVINO_XML_BYTES = 64 * 1024 * 1024;
const MAX_TEXT = 1024;
const MAX_RT_INFO = 256;
const MAX_IO = 4096;
const MAX_RANK = 64;

// ---- metadata schema -------------------------------------------------------------------------------------

const countByName = z.record(z.string(), z.number().int().nonnegative());
const portSchema = z.strictObject({
  name: z
    .string()
    .describe(
      "Tensor name: the first of the `names` of the Parameter's output port (inputs) or of the port feeding the Result (outputs, through `<edges>`), else the layer name.",
    ),
  layer: z.string().optional().describe("The Parameter/Input or Result layer's own name, when it differs from the tensor name."),
  precision: z.string().optional().describe('Element type as written (`f32` from `<data element_type>`, or a port `precision` such as `FP32`).'),
  shape: z.array(z.number().int().nonnegative().nullable()).optional().describe('Dimensions; null for a dynamic one (`?`, `-1`, a range).'),
});

export const openvinoMetadataSchema = z
  .strictObject({
    irVersion: z.number().int().nonnegative().describe('`<net version>`: the IR version (7, 10, 11).'),
    name: z.string().optional().describe('`<net name>`.'),
    layerCount: z.number().int().nonnegative().describe('Layers, those of TensorIterator/Loop bodies included.'),
    layers: countByName.describe('Layers per `type`, bodies included.'),
    opsets: countByName.describe('Layers per `version` attribute (`opset1`, `opset8`, `extension`...).'),
    customLayers: z.array(z.string()).describe('Layer types whose `version` is not an `opsetN` or `experimental` set: extensions.'),
    inputs: z.array(portSchema).describe('Top-level Parameter (IR v10+) or Input (IR v7) layers.'),
    outputs: z.array(portSchema).describe('Top-level Result layers (IR v10+).'),
    precisions: countByName.describe('Ports per `precision` attribute.'),
    weights: z
      .strictObject({
        constants: z.number().int().nonnegative().describe('Const layers (and IR v7 blobs) that address the `.bin`.'),
        elementTypes: countByName.describe('Const layers per `element_type` (all of them, shape constants included).'),
        parameters: z.number().int().nonnegative().describe('Elements of the floating-point and low-bit integer Consts (i32/i64 shape constants excluded).'),
        bytes: z.number().int().nonnegative().describe('Bytes of those Consts, from their `size` attributes.'),
        binBytes: z.number().int().nonnegative().describe('Bytes the `.bin` must hold: the largest offset + size addressed.'),
      })
      .describe('The weights the descriptor addresses in its `.bin`.'),
    framework: z.string().optional().describe('Source framework: `conversion_parameters/framework` or `cli_parameters/framework`.'),
    moVersion: z.string().optional().describe('`MO_version`: the Model Optimizer (or OVC) that converted the model.'),
    runtimeVersion: z.string().optional().describe('`Runtime_version`: the OpenVINO runtime that saved the model.'),
    rtInfo: z
      .record(z.string(), z.string())
      .describe('Net-level `rt_info` / `meta_data` entries with a `value`, by their element path (`conversion_parameters.framework`), at most 256.'),
  })
  .meta({
    title: 'OpenVINO IR metadata',
    description:
      "OpenVINO IR models: an `.xml` descriptor whose root is `<net version>` starting with `<layers>`, read by a bounded tokenizer (a descriptor over 64 MiB is refused as a `limit` problem). The `.bin` of the same base name is the model's part when any layer addresses weights.",
  });
export type OpenvinoMetadata = z.infer<typeof openvinoMetadataSchema>;
type Port = z.infer<typeof portSchema>;

// ---- reading ------------------------------------------------------------------------------------------------

function fail(message: string): never {
  throw new FormatError(`Invalid OpenVINO IR: ${message}`);
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

function sorted(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((a, b) => cmp(a[0], b[0])));
}

function text(v: string | undefined): string | undefined {
  return v === undefined ? undefined : stated(v.slice(0, MAX_TEXT));
}

/** A non-negative decimal integer attribute, or undefined. */
function uint(v: string | undefined): number | undefined {
  if (v === undefined || !/^\s*\d{1,16}\s*$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `1,3,224,224`, `[?,3,-1,1..10]` -> dims with null for dynamic ones; undefined when malformed. */
function parseShape(v: string | undefined): (number | null)[] | undefined {
  if (v === undefined) return undefined;
  const s = v
    .trim()
    .replace(/^\[|\]$/g, '')
    .trim();
  if (s === '') return [];
  const parts = s.split(',');
  if (parts.length > MAX_RANK) return undefined;
  return parts.map((p) => uint(p) ?? null);
}

/** Element types whose Consts count as weights: floating point and low-bit integers (not i32/i64 shapes). */
function isWeightType(t: string): boolean {
  return /^(f\d+|bf16|f8e\w+|i8|u8|i4|u4|u2|u1|nf4|fp\d+)$/.test(t);
}

/** Element type names as the card writes them: `f32`/`FP32` -> `float32`, `i8`/`I8` -> `int8`. */
export function openvinoTypeName(t: string): string {
  const s = t.toLowerCase();
  const m = /^(fp|f|bf|i|u)(\d+)$/.exec(s);
  if (m !== null) {
    const kind = m[1] === 'bf' ? 'bfloat' : m[1] === 'i' ? 'int' : m[1] === 'u' ? 'uint' : 'float';
    return `${kind}${m[2]}`;
  }
  return s === 'boolean' ? 'bool' : s;
}

interface LayerState {
  id: string;
  type: string;
  name: string;
  precision: string | undefined;
  data: Readonly<Record<string, string>> | undefined;
  ports: { id: string; dir: string; precision: string | undefined; names: string | undefined; dims: (number | null)[] }[];
}

/** Port names kept to name outputs: bounded, as a hostile IR may declare millions of ports. */
const MAX_PORT_NAMES = 1_000_000;

/** Reads an IR descriptor from its text. */
export function readOpenvino(xml: string): { metadata: OpenvinoMetadata; warnings: ModelWarning[] } {
  const t = new XmlTokenizer(xml, { label: 'OpenVINO IR' });
  let irVersion: number | undefined;
  let name: string | undefined;
  let layerCount = 0;
  const layers = new Map<string, number>();
  const opsets = new Map<string, number>();
  const custom = new Set<string>();
  const precisions = new Map<string, number>();
  const elementTypes = new Map<string, number>();
  const rtInfo = new Map<string, string>();
  const inputs: Port[] = [];
  const outputs: Port[] = [];
  const warnings: ModelWarning[] = [];
  let constants = 0;
  let parameters = 0;
  let bytes = 0;
  let binBytes = 0;
  let badRefs = 0;
  // Types of the open <layer> elements, innermost last (bodies of TensorIterator/Loop nest layers).
  const layerTypes: string[] = [];
  let top: LayerState | undefined;
  let port: LayerState['ports'][number] | undefined;
  let dimText: string | undefined;
  let sawLayers = false;
  // `<layer id>:<port id>` -> the port's first tensor name, for top-level output ports.
  const portNames = new Map<string, string>();
  // Result inputs waiting for their edge: `<layer id>:<port id>` -> the output entry to rename.
  const pendingOutputs = new Map<string, Port>();

  const address = (offsetAttr: string | undefined, sizeAttr: string | undefined): number | undefined => {
    const offset = uint(offsetAttr);
    const size = uint(sizeAttr);
    if (offset === undefined || size === undefined) {
      badRefs++;
      return undefined;
    }
    constants++;
    binBytes = Math.max(binBytes, offset + size);
    return size;
  };

  for (let tok = t.next(); tok !== undefined; tok = t.next()) {
    if (tok.kind === 'text') {
      if (dimText !== undefined && dimText.length < 64) dimText += tok.text;
      continue;
    }
    if (tok.kind === 'close') {
      const depth = t.path.length + 1;
      if (tok.name === 'dim' && dimText !== undefined && port !== undefined) {
        if (port.dims.length < MAX_RANK) {
          const d = Number(dimText.trim());
          port.dims.push(Number.isSafeInteger(d) && d >= 0 ? d : null);
        }
        dimText = undefined;
      } else if (tok.name === 'port') port = undefined;
      else if (tok.name === 'layer') {
        layerTypes.pop();
        if (depth === 3 && top !== undefined) {
          for (const q of top.ports) {
            if (q.dir === 'output' && q.names !== undefined && portNames.size < MAX_PORT_NAMES) portNames.set(`${top.id}:${q.id}`, q.names);
          }
          finishTop(top, inputs, outputs, pendingOutputs);
          top = undefined;
        }
      }
      continue;
    }
    const p = t.path;
    const depth = p.length;
    const a = tok.attrs;
    if (depth === 1) {
      if (tok.name !== 'net') fail(`the root element is <${tok.name}>, not <net>.`);
      irVersion = uint(a.version);
      if (irVersion === undefined) fail(`<net version> ${JSON.stringify(a.version ?? null)} is not a version number.`);
      name = text(a.name);
      continue;
    }
    if (depth === 2 && tok.name === 'layers') sawLayers = true;
    if (tok.name === 'layer' && p[depth - 2] === 'layers') {
      const type = text(a.type) ?? 'unknown';
      layerCount++;
      bump(layers, type);
      const version = text(a.version);
      if (version !== undefined) {
        bump(opsets, version);
        if (!/^opset\d+$/.test(version) && version !== 'experimental') custom.add(type);
      }
      layerTypes.push(type);
      if (depth === 3) top = { id: a.id ?? '', type, name: text(a.name) ?? text(a.id) ?? '', precision: text(a.precision), data: undefined, ports: [] };
      continue;
    }
    const parent = p[depth - 2];
    const inLayer = p[depth - 2] === 'layer' && layerTypes.length > 0;
    if (tok.name === 'data' && inLayer) {
      if (depth === 4 && top !== undefined) top.data = a;
      if (layerTypes[layerTypes.length - 1] === 'Const' && (a.offset !== undefined || a.size !== undefined)) {
        const et = text(a.element_type)?.toLowerCase() ?? 'unknown';
        bump(elementTypes, et);
        const size = address(a.offset, a.size);
        if (size !== undefined && isWeightType(et)) {
          bytes += size;
          const shape = parseShape(a.shape);
          if (shape?.every((d) => d !== null)) parameters += (shape as number[]).reduce((x, y) => x * y, 1);
        }
      }
      continue;
    }
    // IR v7: <blobs><weights offset size/><biases .../></blobs>
    if (parent === 'blobs' && p[depth - 3] === 'layer' && (a.offset !== undefined || a.size !== undefined)) {
      const size = address(a.offset, a.size);
      if (size !== undefined) {
        bytes += size;
        const prec = text(a.precision) ?? (top?.precision !== undefined ? top.precision : undefined);
        // IR v7 blobs do not carry shapes: elements follow from bytes and precision where both are known.
        const width = prec === undefined ? undefined : ({ fp32: 4, fp16: 2, i8: 1, u8: 1 } as Record<string, number>)[prec.toLowerCase()];
        if (width !== undefined) parameters += Math.floor(size / width);
      }
      continue;
    }
    if (tok.name === 'port' && (parent === 'input' || parent === 'output') && p[depth - 3] === 'layer') {
      const precision = text(a.precision);
      if (precision !== undefined) bump(precisions, precision);
      // `names="logits, logits:0"`: the first one is the tensor's name.
      const names = stated(a.names?.split(',')[0]?.trim().slice(0, MAX_TEXT));
      port = { id: a.id ?? '', dir: parent, precision, names, dims: [] };
      if (depth === 5 && top !== undefined) top.ports.push(port);
      continue;
    }
    if (tok.name === 'dim' && parent === 'port' && port !== undefined) {
      dimText = '';
      continue;
    }
    if (depth === 3 && tok.name === 'edge' && p[1] === 'edges') {
      const out = pendingOutputs.get(`${a['to-layer']}:${a['to-port']}`);
      const from = portNames.get(`${a['from-layer']}:${a['from-port']}`);
      if (out !== undefined && from !== undefined && from !== out.name) {
        out.layer = out.name;
        out.name = from;
      }
      continue;
    }
    if (depth >= 3 && (p[1] === 'rt_info' || p[1] === 'meta_data') && a.value !== undefined && rtInfo.size < MAX_RT_INFO) {
      rtInfo.set(p.slice(2).join('.').slice(0, 256), a.value.slice(0, MAX_TEXT));
    }
  }
  if (irVersion === undefined) fail('the document has no <net> element.');
  if (!sawLayers) fail('<net> holds no <layers>.');
  if (badRefs > 0)
    warnings.push({
      severity: 'warning',
      code: 'format',
      message: `OpenVINO IR: ${badRefs} weight reference(s) lack a decimal offset or size; they are not counted.`,
    });
  if (!Number.isSafeInteger(parameters) || !Number.isSafeInteger(bytes) || !Number.isSafeInteger(binBytes)) fail('the weights add up to more than 2^53.');
  const framework = rtInfo.get('conversion_parameters.framework') ?? rtInfo.get('cli_parameters.framework');
  const metadata: OpenvinoMetadata = {
    irVersion,
    ...opt('name', name),
    layerCount,
    layers: sorted(layers),
    opsets: sorted(opsets),
    customLayers: [...custom].sort(cmp),
    inputs,
    outputs,
    precisions: sorted(precisions),
    weights: { constants, elementTypes: sorted(elementTypes), parameters, bytes, binBytes },
    ...opt('framework', stated(framework)),
    ...opt('moVersion', stated(rtInfo.get('MO_version'))),
    ...opt('runtimeVersion', stated(rtInfo.get('Runtime_version'))),
    rtInfo: Object.fromEntries([...rtInfo].sort((x, y) => cmp(x[0], y[0]))),
  };
  return { metadata, warnings };
}

/**
 * Records a finished top-level layer as an input or output when it is one; an output waits in
 * `pending` for the edge that names the tensor feeding it.
 */
function finishTop(l: LayerState, inputs: Port[], outputs: Port[], pending: Map<string, Port>): void {
  const isInput = l.type === 'Parameter' || l.type === 'Input';
  const isOutput = l.type === 'Result';
  if (!isInput && !isOutput) return;
  const list = isInput ? inputs : outputs;
  if (list.length >= MAX_IO) return;
  const p = l.ports.find((x) => x.dir === (isInput ? 'output' : 'input'));
  const precision = text(l.data?.element_type) ?? p?.precision ?? l.precision;
  const shape = parseShape(l.data?.shape) ?? (p !== undefined && p.dims.length > 0 ? p.dims : undefined);
  const tensor = isInput ? p?.names : undefined;
  const entry: Port = {
    name: tensor ?? l.name,
    ...(tensor !== undefined && tensor !== l.name ? { layer: l.name } : {}),
    ...opt('precision', precision),
    ...opt('shape', shape),
  };
  list.push(entry);
  if (isOutput && p !== undefined) pending.set(`${l.id}:${p.id}`, entry);
}

// ---- the card -------------------------------------------------------------------------------------------------

export function openvinoCard(metadata: Record<string, unknown>): ModelCard {
  const m = openvinoMetadataSchema.parse(metadata);
  const custom = new Set(m.customLayers);
  const spec = (p: Port): ModelCard['inputs'][number] => ({
    name: p.name,
    ...opt('type', p.precision === undefined ? undefined : openvinoTypeName(p.precision)),
    ...opt('shape', p.shape),
  });
  const weightTypes = Object.keys(m.weights.elementTypes).filter(isWeightType).map(openvinoTypeName).sort(cmp);
  const lowBit = weightTypes.filter((x) => /^(u?int\d+|nf4)$/.test(x));
  const fq = (m.layers.FakeQuantize ?? 0) > 0;
  const card: ModelCard = {
    ...opt('name', m.name),
    // Model Optimizer wrote IR up to 2023; OVC / ov.save_model record only the runtime version.
    ...opt('producer', m.moVersion !== undefined ? 'OpenVINO Model Optimizer' : m.runtimeVersion !== undefined ? 'OpenVINO' : undefined),
    ...opt('producerVersion', m.moVersion ?? m.runtimeVersion),
    format: 'openvino',
    formatVersion: String(m.irVersion),
    inputs: m.inputs.map(spec),
    outputs: m.outputs.map(spec),
    ...(m.weights.constants > 0 ? { parameters: m.weights.parameters, parameterBytes: m.weights.bytes } : {}),
    weightTypes,
    quantized: fq || lowBit.length > 0,
    ...opt('quantization', fq ? 'FakeQuantize' : lowBit.length > 0 ? lowBit.join(', ') : undefined),
    operators: sortCardOperators(Object.entries(m.layers).map(([name, count]) => ({ name, count, custom: custom.has(name) }))),
    customOperators: custom.size > 0,
  };
  return card;
}

// ---- the format -----------------------------------------------------------------------------------------------

/** True when the head's root element is `<net version=..>` and its first child `<layers>`. */
function looksLikeIr(head: Uint8Array): boolean {
  // Cheap first: no '<net' in the head, no tokenizing.
  if (!Buffer.from(head.buffer, head.byteOffset, head.byteLength).includes('<net', 0, 'latin1')) return false;
  const [root, first] = leadingElements(head, 2);
  return root?.name === 'net' && uint(root.attrs.version) !== undefined && first?.name === 'layers';
}

/** The `.bin` beside `name.xml` (any other name: `name.bin`). */
function binName(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return `${/\.xml$/i.test(base) ? base.slice(0, -4) : base}.bin`;
}

/**
 * OpenVINO IR (`.xml` + `.bin`): IR version, name, layer and opset histograms, inputs and outputs with
 * precision and shape, port precisions, the weights the descriptor addresses, and the converter facts
 * of `rt_info`/`meta_data`. Reads the XML only (never the `.bin`, except its size); does not read the
 * compiled blobs of `ov::CompiledModel::export_model` nor ONNX models loaded directly by OpenVINO.
 */
export const openvino: ModelFormat = {
  id: 'openvino',
  description: 'OpenVINO IR (.xml + .bin): IR version, layers and opsets, inputs/outputs, precisions, rt_info converter facts',
  // `.xml` is no claim: most XML files are not models, and a claim would make each a problem.
  extensions: [],
  // '<net' is not at a fixed offset (an XML declaration or comments may precede it): found by structure.
  signatures: [],
  metadataSchema: openvinoMetadataSchema,
  card: openvinoCard,
  match(probe: Probe): boolean {
    // '<' first (after whitespace): only XML is searched for '<net'.
    return leadingByte(probe) === 0x3c && looksLikeIr(probe.head);
  },
  async inspect(src: ByteSource, probe: Probe, ctx: InspectContext): Promise<ModelInfo> {
    if (src.size > MAX_OPENVINO_XML_BYTES) {
      throw new LimitError(
        `This ${src.size}-byte XML looks like an OpenVINO IR descriptor but is larger than the ${MAX_OPENVINO_XML_BYTES}-byte limit for model descriptors; it was not parsed.`,
        'maxXmlBytes',
      );
    }
    const xml = new TextDecoder('utf-8').decode(src.read(0, src.size));
    const { metadata, warnings } = readOpenvino(xml);
    const info: ModelInfo = { confidence: 'high', metadata: metadata as unknown as Record<string, unknown> };
    if (metadata.weights.binBytes > 0) {
      const bin = binName(probe.name);
      info.parts = [{ path: bin, role: 'weights' }];
      const sib = await ctx.sibling?.(bin);
      if (sib !== undefined && sib.size < metadata.weights.binBytes) {
        warnings.push({
          severity: 'error',
          code: 'truncated',
          message: `OpenVINO IR: the weights file '${bin}' holds ${sib.size} bytes, but the descriptor addresses ${metadata.weights.binBytes}.`,
        });
      }
    }
    if (warnings.length > 0) info.warnings = warnings;
    return info;
  },
};
