import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError, LimitError } from '../../src/errors.js';
import { MAX_OPENVINO_XML_BYTES, openvino, openvinoTypeName, type OpenvinoMetadata } from '../../src/formats/openvino.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { binBytes, irBytes, irXml, smallClassifier, type IrSpec } from '../builders/openvino-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-openvino-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function matches(bytes: Uint8Array, name = 'model.xml'): boolean {
  return openvino.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array | ByteSource, name = 'model.xml', siblings: Record<string, ByteSource> = {}): Promise<ModelInfo> {
  const src = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes;
  const ctx = { limits: DEFAULT_LIMITS, sibling: async (n: string) => siblings[n] };
  const info = await openvino.inspect(src, createProbe(src, name), ctx);
  expectConforms(openvino, info.metadata);
  return info;
}

async function failure(bytes: Uint8Array, name = 'model.xml'): Promise<Error> {
  const src = new BufferSource(bytes);
  const err = await openvino.inspect(src, createProbe(src, name), { limits: DEFAULT_LIMITS }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('openvino: IR v11', () => {
  it('reads layers, opsets, inputs, outputs, precisions, weights and rt_info', async () => {
    const bytes = irBytes(smallClassifier());
    expect(matches(bytes)).toBe(true);
    const info = await inspect(bytes, 'classifier.xml');
    expect(info.confidence).toBe('high');
    expect(info.parts).toEqual([{ path: 'classifier.bin', role: 'weights' }]);
    expect(info.warnings).toBeUndefined();
    expect(info.metadata).toEqual({
      irVersion: 11,
      name: 'tiny-classifier',
      layerCount: 8,
      layers: { Add: 1, Const: 3, Convert: 1, Convolution: 1, Parameter: 1, Result: 1 },
      opsets: { opset1: 8 },
      customLayers: [],
      inputs: [{ name: 'image', precision: 'f32', shape: [null, 3, 224, 224] }],
      outputs: [{ name: 'logits', layer: 'logits/sink_port_0', precision: 'FP32', shape: [null, 8, 222, 222] }],
      precisions: { FP16: 2, FP32: 10, I64: 1 },
      weights: { constants: 3, elementTypes: { f16: 1, f32: 1, i64: 1 }, parameters: 216 + 8, bytes: 432 + 32, binBytes: 480 },
      framework: 'onnx',
      moVersion: '2023.0.0-10926-b4452d56304-releases/2023/0',
      runtimeVersion: '2023.0.0-10926-b4452d56304-releases/2023/0',
      rtInfo: {
        MO_version: '2023.0.0-10926-b4452d56304-releases/2023/0',
        Runtime_version: '2023.0.0-10926-b4452d56304-releases/2023/0',
        'conversion_parameters.compress_to_fp16': 'True',
        'conversion_parameters.framework': 'onnx',
        'conversion_parameters.input_model': 'DIR/classifier.onnx',
        'conversion_parameters.is_python_api_used': 'False',
        legacy_frontend: 'False',
      },
    } satisfies OpenvinoMetadata);
    expect(openvino.card(info.metadata)).toEqual({
      name: 'tiny-classifier',
      producer: 'OpenVINO Model Optimizer',
      producerVersion: '2023.0.0-10926-b4452d56304-releases/2023/0',
      format: 'openvino',
      formatVersion: '11',
      inputs: [{ name: 'image', type: 'float32', shape: [null, 3, 224, 224] }],
      outputs: [{ name: 'logits', type: 'float32', shape: [null, 8, 222, 222] }],
      parameters: 224,
      parameterBytes: 464,
      weightTypes: ['float16', 'float32'],
      quantized: false,
      operators: [
        { name: 'Const', count: 3, custom: false },
        { name: 'Add', count: 1, custom: false },
        { name: 'Convert', count: 1, custom: false },
        { name: 'Convolution', count: 1, custom: false },
        { name: 'Parameter', count: 1, custom: false },
        { name: 'Result', count: 1, custom: false },
      ],
      customOperators: false,
    });
  });

  it('counts TensorIterator bodies, flags extension layers and FakeQuantize, and reads an OVC-saved model', async () => {
    const spec: IrSpec = {
      version: 11,
      layers: [
        {
          type: 'Parameter',
          name: 'x',
          version: 'opset1',
          data: { shape: '1,16', element_type: 'u8' },
          outputs: [{ names: 'pixels, pixels:0', dims: [1, 16] }],
        },
        { type: 'Const', version: 'opset1', data: { element_type: 'i8', shape: '16,16', offset: '0', size: '256' } },
        { type: 'FakeQuantize', version: 'opset1', data: { levels: '256' } },
        {
          type: 'TensorIterator',
          version: 'opset1',
          body: [
            { type: 'Parameter', version: 'opset1' },
            { type: 'LSTMCell', version: 'opset4' },
            { type: 'Result', version: 'opset1' },
          ],
        },
        { type: 'MyNms', version: 'custom_opset' },
        { type: 'Result', version: 'opset1', inputs: [{ dims: [1, 4] }] },
      ],
      rtInfo: { Runtime_version: '2024.4.0-16579-c3152d32c9c-releases/2024/4', conversion_parameters: { framework: 'pytorch', is_python_object: 'True' } },
    };
    const info = await inspect(irBytes(spec));
    const m = info.metadata as OpenvinoMetadata;
    expect(m.layers).toEqual({ Const: 1, FakeQuantize: 1, LSTMCell: 1, MyNms: 1, Parameter: 2, Result: 2, TensorIterator: 1 });
    expect(m.layerCount).toBe(9);
    expect(m.opsets).toEqual({ custom_opset: 1, opset1: 7, opset4: 1 });
    expect(m.customLayers).toEqual(['MyNms']);
    // The tensor name of the port, the layer's own beside it; body Parameters are not model inputs.
    expect(m.inputs).toEqual([{ name: 'pixels', layer: 'x', precision: 'u8', shape: [1, 16] }]);
    expect(m.outputs).toEqual([{ name: 'result_5', shape: [1, 4] }]);
    const card = openvino.card(info.metadata);
    expect(card).toMatchObject({
      producer: 'OpenVINO',
      producerVersion: '2024.4.0-16579-c3152d32c9c-releases/2024/4',
      quantized: true,
      quantization: 'FakeQuantize',
      weightTypes: ['int8'],
      customOperators: true,
    });
    expect(card.inputs).toEqual([{ name: 'pixels', type: 'uint8', shape: [1, 16] }]);
    expect(card.operators.find((o) => o.name === 'MyNms')).toEqual({ name: 'MyNms', count: 1, custom: true });
  });

  it('has no part and no parameters when no layer addresses weights', async () => {
    const info = await inspect(
      irBytes({
        layers: [
          { type: 'Parameter', version: 'opset1' },
          { type: 'Result', version: 'opset1' },
        ],
      }),
    );
    expect(info.parts).toBeUndefined();
    expect(openvino.card(info.metadata)).not.toHaveProperty('parameters');
  });

  it('warns when the .bin beside it is shorter than the weights it addresses', async () => {
    const info = await inspect(irBytes(smallClassifier()), 'm.xml', { 'm.bin': new BufferSource(binBytes(100)) });
    expect(info.warnings).toEqual([
      { severity: 'error', code: 'truncated', message: "OpenVINO IR: the weights file 'm.bin' holds 100 bytes, but the descriptor addresses 480." },
    ]);
    const ok = await inspect(irBytes(smallClassifier()), 'm.xml', { 'm.bin': new BufferSource(binBytes(480)) });
    expect(ok.warnings).toBeUndefined();
  });
});

describe('openvino: IR v7 and v10', () => {
  it('reads IR v7 Input layers, blobs and meta_data', async () => {
    const spec: IrSpec = {
      version: 7,
      name: 'squeezenet1.1',
      prolog: '<?xml version="1.0" ?>\n<!-- converted -->\n',
      layers: [
        { type: 'Input', name: 'data', attrs: { precision: 'FP32' }, outputs: [{ dims: [1, 3, 227, 227] }] },
        {
          type: 'Convolution',
          name: 'conv1',
          attrs: { precision: 'FP32' },
          data: { output: '64' },
          blobs: { weights: { offset: '0', size: '6912' }, biases: { offset: '6912', size: '256' } },
        },
        { type: 'SoftMax', name: 'prob', attrs: { precision: 'FP32' } },
      ],
      rtInfoElement: 'meta_data',
      rtInfo: { MO_version: '2019.3.0-408-gac8584cb7', cli_parameters: { framework: 'caffe', data_type: 'FP32' } },
    };
    const info = await inspect(irBytes(spec), 'squeezenet1.1.xml');
    expect(info.metadata).toMatchObject({
      irVersion: 7,
      inputs: [{ name: 'data', precision: 'FP32', shape: [1, 3, 227, 227] }],
      outputs: [],
      weights: { constants: 2, parameters: 1792, bytes: 7168, binBytes: 7168, elementTypes: {} },
      framework: 'caffe',
      moVersion: '2019.3.0-408-gac8584cb7',
      opsets: {},
    });
    expect(info.parts).toEqual([{ path: 'squeezenet1.1.bin', role: 'weights' }]);
  });

  it('decodes entities and character references in attribute values', async () => {
    const info = await inspect(
      enc('<net name="a&amp;b &#x263A;" version="10"><layers><layer id="0" name="in&lt;1&gt;" type="Parameter" version="opset1"/></layers></net>'),
    );
    expect(info.metadata).toMatchObject({ name: 'a&b \u263a', inputs: [{ name: 'in<1>' }] });
  });
});

describe('openvino: what is not OpenVINO IR', () => {
  it.each([
    ['a Maven pom', '<?xml version="1.0"?><project><modelVersion>4.0.0</modelVersion></project>'],
    ['a net without a version', '<net name="x"><layers></layers></net>'],
    ['a net whose first child is not layers', '<net name="x" version="10"><edges/><layers/></net>'],
    ['a network element', '<network version="10"><layers/></network>'],
    ['<net in a comment of another document', '<!-- <net version="10"><layers> --><svg version="1.1"><g/></svg>'],
    ['an Android layout', '<?xml version="1.0" encoding="utf-8"?>\n<LinearLayout xmlns:android="x"><layers/></LinearLayout>'],
    ['binary bytes', '\u0000\u0001<net version="1"><layers>'],
  ])('does not match %s', (_what, text) => {
    expect(matches(enc(text))).toBe(false);
  });

  it('matches with a BOM, a declaration and comments before <net>', () => {
    expect(matches(Uint8Array.from([0xef, 0xbb, 0xbf, ...enc('<?xml version="1.0"?>\n<!-- x -->\n<net name="n" version="11">\n<layers>')]))).toBe(true);
  });

  it('fails a truncated descriptor as truncated, naming the open element', async () => {
    const xml = irXml(smallClassifier());
    const err = await failure(enc(xml.slice(0, xml.indexOf('<edges>'))));
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).code).toBe('truncated');
    expect(err.message).toBe(`Invalid OpenVINO IR: element <net> is not closed at the end of the document.`);
  });

  it.each([
    ['mismatched tags', '<net version="10"><layers><layer></layers></net>', 'end tag </layers> at offset 33 does not match <layer>.'],
    [
      'an unknown entity',
      '<net version="10" name="&xxe;"><layers/></net>',
      'entity &xxe; near offset 24 is not one of the five predefined entities or a character reference.',
    ],
    [
      'a DOCTYPE with entities',
      '<!DOCTYPE net [<!ENTITY a "aaaa">]><net version="10"><layers/></net>',
      'a DOCTYPE with an internal subset at offset 0 is not supported.',
    ],
    ['a second root', '<net version="10"><layers/></net><net version="10"/>', 'a second root element at offset 33.'],
    ['a duplicate attribute', '<net version="10" version="11"><layers/></net>', 'attribute version appears twice in <net> at offset 0.'],
  ])('rejects %s with a FormatError naming the offset', async (_what, xml, message) => {
    const err = await failure(enc(xml));
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toBe(`Invalid OpenVINO IR: ${message}`);
  });

  it('rejects nesting deeper than the bound', async () => {
    const xml = `<net version="10"><layers>${'<a>'.repeat(300)}${'</a>'.repeat(300)}</layers></net>`;
    expect((await failure(enc(xml))).message).toBe('Invalid OpenVINO IR: elements nest deeper than 256 levels at offset 788.');
  });

  it('refuses a descriptor over the limit with a LimitError, reading only the head', async () => {
    const head = enc('<?xml version="1.0"?>\n<net name="huge" version="11">\n<layers>\n');
    let read = 0;
    const src: ByteSource = {
      size: MAX_OPENVINO_XML_BYTES + 1,
      read(offset: number, length: number): Uint8Array {
        const n = Math.min(length, this.size - offset);
        read += n;
        const out = new Uint8Array(n).fill(0x20);
        if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + n)));
        return out;
      },
    };
    const probe = createProbe(src, 'huge.xml');
    expect(openvino.match(probe)).toBe(true);
    await expect(openvino.inspect(src, probe, { limits: DEFAULT_LIMITS })).rejects.toBeInstanceOf(LimitError);
    expect(read).toBeLessThanOrEqual(64 * 1024);
  });

  it('names precisions as the card does', () => {
    expect(['f32', 'FP16', 'bf16', 'i64', 'U8', 'boolean', 'u1', 'nf4'].map(openvinoTypeName)).toEqual([
      'float32',
      'float16',
      'bfloat16',
      'int64',
      'uint8',
      'bool',
      'uint1',
      'nf4',
    ]);
  });
});

describe('openvino: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  const files: [string, Uint8Array][] = [
    ['opt/models/face/face-detection.xml', irBytes(smallClassifier())],
    ['opt/models/face/face-detection.bin', binBytes(480)],
    ['opt/app/config.xml', enc('<?xml version="1.0"?><config><net version="1"/></config>')],
  ];

  it.each(['zip', 'tar'])('finds the IR in a %s with its .bin as a part and nothing else as a model', async (kind) => {
    let archive: string;
    if (kind === 'zip') {
      archive = path.join(tmp, 'kiosk.zip');
      fs.writeFileSync(archive, buildZip(files, 0));
    } else {
      const d = path.join(tmp, 'tree');
      for (const [n, b] of files) {
        fs.mkdirSync(path.join(d, path.dirname(n)), { recursive: true });
        fs.writeFileSync(path.join(d, n), b);
      }
      archive = path.join(tmp, 'kiosk.tar');
      run('tar', ['-cf', archive, '-C', d, 'opt']);
    }
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/opt/models/face/face-detection.xml`]);
    const m = models[0]!;
    expect(m.kind === 'model' && m.model.card).toMatchObject({ format: 'openvino', name: 'tiny-classifier', parameters: 224 });
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path)).toEqual([`${archive}!/opt/models/face/face-detection.bin`]);
    expect(inv.relationships).toContainEqual({ from: parts[0]!.id, type: 'part-of', to: m.id });
    expect(inv.problems).toEqual([]);
  });

  it('names a missing .bin as a problem on the model', async () => {
    const d = path.join(tmp, 'missing');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'model.xml'), irBytes(smallClassifier()));
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'model')).toHaveLength(1);
    expect(inv.problems.map((p) => p.message)).toEqual(["The model's weights file 'model.bin' is missing beside the model."]);
  });
});
