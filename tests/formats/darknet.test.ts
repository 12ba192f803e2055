import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { type DarknetMetadata, darknet } from '../../src/formats/darknet.js';
import type { ModelInfo } from '../../src/formats/types.js';
import { BufferSource, type ByteSource } from '../../src/io/byte-source.js';
import { DEFAULT_LIMITS } from '../../src/io/limits.js';
import { createProbe } from '../../src/probe.js';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import { cfgText, tinyYolo, weightsBytes } from '../builders/darknet-builder.js';
import { run } from '../helpers/container-context.js';
import { expectConforms } from '../helpers/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-darknet-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
/** Debian package `darknet` ships the upstream cfg files here. */
const DEBIAN_CFG = '/usr/share/darknet/cfg';
const debianCfgs = fs.existsSync(DEBIAN_CFG)
  ? fs
      .readdirSync(DEBIAN_CFG)
      .filter((f) => f.endsWith('.cfg'))
      .sort()
  : [];
if (debianCfgs.length === 0) console.warn(`SKIP: ${DEBIAN_CFG} is absent (Debian package darknet); tests over real Darknet cfgs are skipped.`);

function matches(bytes: Uint8Array, name = 'yolo.cfg'): boolean {
  return darknet.match(createProbe(new BufferSource(bytes), name));
}

async function inspect(bytes: Uint8Array, name = 'yolo.cfg', siblings: Record<string, ByteSource> = {}): Promise<ModelInfo> {
  const src = new BufferSource(bytes);
  const info = await darknet.inspect(src, createProbe(src, name), { limits: DEFAULT_LIMITS, sibling: async (n: string) => siblings[n] });
  expectConforms(darknet, info.metadata);
  return info;
}

describe('darknet', () => {
  it('reads input size, layers, custom layers and classes, with the .weights beside it as part', async () => {
    const info = await inspect(enc(tinyYolo()), 'yolov3-tiny.cfg', { 'yolov3-tiny.weights': new BufferSource(weightsBytes(4)) });
    expect(info.parts).toEqual([{ path: 'yolov3-tiny.weights', role: 'weights' }]);
    expect(info.metadata).toEqual({
      width: 416,
      height: 416,
      channels: 3,
      layerCount: 6,
      layers: { convolutional: 2, maxpool: 1, my_custom_layer: 1, route: 1, yolo: 1 },
      customLayers: ['my_custom_layer'],
      classes: 80,
      weights: 'yolov3-tiny.weights',
    } satisfies DarknetMetadata);
    expect(darknet.card(info.metadata)).toMatchObject({
      format: 'darknet',
      task: 'object-detection',
      inputs: [{ name: 'data', type: 'float32', shape: [null, 3, 416, 416] }],
      customOperators: true,
    });
    const alone = await inspect(enc(tinyYolo()), 'yolov3-tiny.cfg');
    expect(alone.parts).toBeUndefined();
    expect(alone.metadata).not.toHaveProperty('weights');
  });

  it.skipIf(debianCfgs.length === 0)('reads every cfg the Debian darknet package ships', async () => {
    for (const f of debianCfgs) {
      const bytes = fs.readFileSync(path.join(DEBIAN_CFG, f));
      expect(matches(bytes, f), f).toBe(true);
      const m = (await inspect(bytes, f)).metadata as DarknetMetadata;
      expect(m.layerCount, f).toBeGreaterThan(0);
      expect(m.customLayers, f).toEqual([]);
    }
    const yolo = (await inspect(fs.readFileSync(path.join(DEBIAN_CFG, 'yolov3-tiny.cfg')), 'yolov3-tiny.cfg')).metadata;
    expect(yolo).toMatchObject({
      width: 416,
      height: 416,
      channels: 3,
      classes: 80,
      layerCount: 24,
      layers: { convolutional: 13, maxpool: 6, yolo: 2, route: 2, upsample: 1 },
    });
  });

  it.each([
    ['an ini file', '[core]\nrepositoryformatversion = 0\n', 'config.cfg'],
    ['a network named otherwise', tinyYolo(), 'yolo.txt'],
    ['a key before any section', 'width=1\n[net]\n', 'x.cfg'],
  ])('does not match %s', (_what, text, name) => {
    expect(matches(enc(text), name)).toBe(false);
  });

  it.each([
    ['a broken section header', '[net]\nwidth=1\n[conv\n', 'Invalid Darknet cfg: line 3 "[conv" is not a section header.'],
    ['a line that is not key=value', '[net]\nwidth 1\n[maxpool]\n', 'Invalid Darknet cfg: line 2 "width 1" is not key=value.'],
    ['a net without layers', '[net]\nwidth=1\n', 'Invalid Darknet cfg: the [net] section is followed by no layer.'],
  ])('rejects %s', async (_what, text, message) => {
    const src = new BufferSource(enc(text));
    const err = await darknet.inspect(src, createProbe(src, 'x.cfg'), { limits: DEFAULT_LIMITS }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(message);
  });
});

describe('darknet: end to end', () => {
  const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
  it('finds a cfg in a tar with its .weights as part, and leaves other .cfg files alone', async () => {
    const d = path.join(tmp, 'tree/opt/detector');
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(
      path.join(d, 'yolov3-tiny.cfg'),
      cfgText({ width: 320, height: 320, channels: 3 }, [
        ['convolutional', { filters: 8 }],
        ['yolo', { classes: 2 }],
      ]),
    );
    fs.writeFileSync(path.join(d, 'yolov3-tiny.weights'), weightsBytes(64));
    fs.writeFileSync(path.join(d, 'app.cfg'), '[general]\nname=app\n');
    const archive = path.join(tmp, 'det.tar');
    run('tar', ['-cf', archive, '-C', path.join(tmp, 'tree'), 'opt']);
    const inv = valid(await scan([archive]));
    const models = inv.components.filter((c) => c.kind === 'model');
    expect(models.map((m) => m.locations[0]!.path)).toEqual([`${archive}!/opt/detector/yolov3-tiny.cfg`]);
    const parts = inv.components.filter((c) => c.kind === 'data');
    expect(parts.map((p) => p.locations[0]!.path)).toEqual([`${archive}!/opt/detector/yolov3-tiny.weights`]);
    expect(inv.relationships).toContainEqual({ from: parts[0]!.id, type: 'part-of', to: models[0]!.id });
    expect(inv.problems).toEqual([]);
  });
});
