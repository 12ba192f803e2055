/**
 * Builds OpenVINO IR descriptors for tests, from the IR layout OpenVINO documents ("OpenVINO IR
 * format": `<net name version>`, `<layers>` of `<layer id name type version>` with `<data>`, `<input>` and
 * `<output>` ports of `<dim>`s, `<edges>` of `<edge from-layer from-port to-layer to-port>`, then
 * `<rt_info>` in IR v11 or `<meta_data>` in IR v7/v10). Values are escaped as XML requires.
 */

export interface IrPort {
  precision?: string;
  dims: number[];
  names?: string;
}

export interface IrLayer {
  type: string;
  name?: string;
  version?: string;
  /** Attributes of `<data>`. */
  data?: Record<string, string>;
  inputs?: IrPort[];
  outputs?: IrPort[];
  /** IR v7: `<blobs>` children such as `{ weights: { offset: '0', size: '64' } }`. */
  blobs?: Record<string, Record<string, string>>;
  /** Extra attributes of `<layer>` (IR v7 `precision`). */
  attrs?: Record<string, string>;
  /** A TensorIterator/Loop body. */
  body?: IrLayer[];
}

export interface IrSpec {
  name?: string;
  version?: number | string;
  layers: IrLayer[];
  /** Nested `rt_info` (or `meta_data`) entries: a string becomes `<key value=".."/>`, an object a nested element. */
  rtInfo?: Record<string, unknown>;
  rtInfoElement?: 'rt_info' | 'meta_data';
  /** Text placed before `<net>` (an XML declaration, comments). */
  prolog?: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const attrs = (a: Record<string, string> | undefined): string =>
  Object.entries(a ?? {})
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join('');

function ports(tag: string, list: IrPort[] | undefined, firstId: number, indent: string): string {
  if (list === undefined || list.length === 0) return '';
  const body = list
    .map((p, i) => {
      const a: Record<string, string> = { id: String(firstId + i) };
      if (p.precision !== undefined) a.precision = p.precision;
      if (p.names !== undefined) a.names = p.names;
      return `${indent}  <port${attrs(a)}>\n${p.dims.map((d) => `${indent}    <dim>${d}</dim>\n`).join('')}${indent}  </port>\n`;
    })
    .join('');
  return `${indent}<${tag}>\n${body}${indent}</${tag}>\n`;
}

function layersXml(layers: IrLayer[], indent: string): string {
  let out = `${indent}<layers>\n`;
  layers.forEach((l, id) => {
    const a: Record<string, string> = { id: String(id), name: l.name ?? `${l.type.toLowerCase()}_${id}`, type: l.type, ...(l.attrs ?? {}) };
    if (l.version !== undefined) a.version = l.version;
    out += `${indent}  <layer${attrs(a)}>\n`;
    if (l.data !== undefined) out += `${indent}    <data${attrs(l.data)}/>\n`;
    if (l.blobs !== undefined) {
      out += `${indent}    <blobs>\n`;
      for (const [k, v] of Object.entries(l.blobs)) out += `${indent}      <${k}${attrs(v)}/>\n`;
      out += `${indent}    </blobs>\n`;
    }
    out += ports('input', l.inputs, 0, `${indent}    `);
    out += ports('output', l.outputs, l.inputs?.length ?? 0, `${indent}    `);
    if (l.body !== undefined) out += `${indent}    <body>\n${layersXml(l.body, `${indent}      `)}${indent}    </body>\n`;
    out += `${indent}  </layer>\n`;
  });
  return `${out}${indent}</layers>\n`;
}

function rt(entries: Record<string, unknown>, indent: string): string {
  let out = '';
  for (const [k, v] of Object.entries(entries)) {
    if (typeof v === 'string') out += `${indent}<${k} value="${esc(v)}"/>\n`;
    else out += `${indent}<${k}>\n${rt(v as Record<string, unknown>, `${indent}  `)}${indent}</${k}>\n`;
  }
  return out;
}

/** The descriptor as text; edges chain the layers in order (each layer's first output into the next one's port 0). */
export function irXml(spec: IrSpec): string {
  let out = spec.prolog ?? '<?xml version="1.0"?>\n';
  out += `<net${attrs({ name: spec.name ?? 'model', version: String(spec.version ?? 11) })}>\n`;
  out += layersXml(spec.layers, '  ');
  out += '  <edges>\n';
  // Each layer's first output port (numbered after its inputs) feeds the next layer's port 0.
  for (let i = 1; i < spec.layers.length; i++)
    out += `    <edge from-layer="${i - 1}" from-port="${spec.layers[i - 1]!.inputs?.length ?? 0}" to-layer="${i}" to-port="0"/>\n`;
  out += '  </edges>\n';
  if (spec.rtInfo !== undefined) {
    const el = spec.rtInfoElement ?? 'rt_info';
    out += `  <${el}>\n${rt(spec.rtInfo, '    ')}  </${el}>\n`;
  }
  return `${out}</net>\n`;
}

export function irBytes(spec: IrSpec): Uint8Array {
  return new TextEncoder().encode(irXml(spec));
}

/** A small IR v11 classifier: Parameter -> Convolution (f16 weights + Convert) -> Add -> Result. */
export function smallClassifier(): IrSpec {
  return {
    name: 'tiny-classifier',
    version: 11,
    layers: [
      {
        type: 'Parameter',
        name: 'image',
        version: 'opset1',
        data: { shape: '?,3,224,224', element_type: 'f32' },
        outputs: [{ precision: 'FP32', names: 'image', dims: [-1, 3, 224, 224] }],
      },
      {
        type: 'Const',
        name: 'conv.weight',
        version: 'opset1',
        data: { element_type: 'f16', shape: '8,3,3,3', offset: '0', size: '432' },
        outputs: [{ precision: 'FP16', dims: [8, 3, 3, 3] }],
      },
      {
        type: 'Convert',
        version: 'opset1',
        data: { destination_type: 'f32' },
        inputs: [{ precision: 'FP16', dims: [8, 3, 3, 3] }],
        outputs: [{ precision: 'FP32', dims: [8, 3, 3, 3] }],
      },
      {
        type: 'Convolution',
        version: 'opset1',
        data: { strides: '1,1', dilations: '1,1', pads_begin: '0,0', pads_end: '0,0', auto_pad: 'explicit' },
        inputs: [
          { precision: 'FP32', dims: [-1, 3, 224, 224] },
          { precision: 'FP32', dims: [8, 3, 3, 3] },
        ],
        outputs: [{ precision: 'FP32', dims: [-1, 8, 222, 222] }],
      },
      {
        type: 'Const',
        name: 'shape',
        version: 'opset1',
        data: { element_type: 'i64', shape: '2', offset: '432', size: '16' },
        outputs: [{ precision: 'I64', dims: [2] }],
      },
      {
        type: 'Const',
        name: 'bias',
        version: 'opset1',
        data: { element_type: 'f32', shape: '1,8,1,1', offset: '448', size: '32' },
        outputs: [{ precision: 'FP32', dims: [1, 8, 1, 1] }],
      },
      {
        type: 'Add',
        version: 'opset1',
        data: { auto_broadcast: 'numpy' },
        inputs: [
          { precision: 'FP32', dims: [-1, 8, 222, 222] },
          { precision: 'FP32', dims: [1, 8, 1, 1] },
        ],
        outputs: [{ precision: 'FP32', names: 'logits', dims: [-1, 8, 222, 222] }],
      },
      { type: 'Result', name: 'logits/sink_port_0', version: 'opset1', inputs: [{ precision: 'FP32', dims: [-1, 8, 222, 222] }] },
    ],
    rtInfo: {
      MO_version: '2023.0.0-10926-b4452d56304-releases/2023/0',
      Runtime_version: '2023.0.0-10926-b4452d56304-releases/2023/0',
      conversion_parameters: { compress_to_fp16: 'True', framework: 'onnx', input_model: 'DIR/classifier.onnx', is_python_api_used: 'False' },
      legacy_frontend: 'False',
    },
  };
}

/** Bytes of a `.bin` of `n` bytes (zeros: the reader never looks inside). */
export function binBytes(n: number): Uint8Array {
  return new Uint8Array(n);
}
