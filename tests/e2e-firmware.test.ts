import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inventorySchema, scan } from '../src/index.js';
import { LpBuilder } from './builders/lp-builder.js';
import { buildPayload } from './builders/ota-builder.js';
import { OnnxBuilder } from './builders/onnx-builder.js';
import { buildZip, TfliteBuilder } from './builders/tflite-builder.js';
import { hasTool } from './helpers/corpus.js';
import { modelsOf } from './helpers/inventory.js';

// End to end, through the default registries, as a user's scan goes: real firmware nesting built
// with real tools (mke2fs, img2simg, tar) and our own writers where no Debian tool exists
// (payload.bin, super.img), each of which its own test checks against an independent reader.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-e2e-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

const tflite = new TfliteBuilder()
  .description('e2e ocr')
  .subgraph((sg) =>
    sg
      .name('main')
      .tensor('in', 'uint8', [1, 32, 32, 1])
      .tensor('w', 'int8', [4, 3, 3, 1], { data: crypto.randomBytes(36) })
      .tensor('out', 'uint8', [1, 30, 30, 4])
      .operator('CONV_2D', [0, 1], [2])
      .inputs([0])
      .outputs([2]),
  )
  .modelMetadata({ name: 'Receipt OCR', version: '3.1', author: 'vendor', license: 'proprietary' })
  .build();
const onnx = new OnnxBuilder()
  .producer('e2e', '1')
  .opset('', 17)
  .input('x', 'float32', [1, 8])
  .initializer('w', 'float32', [8, 8])
  .node('MatMul', ['x', 'w'], ['y'])
  .output('y', 'float32', [1, 8])
  .build();
const apk = buildZip(
  [
    ['AndroidManifest.xml', enc('<manifest/>')],
    ['assets/ocr.tflite', tflite],
    ['classes.dex', enc('dex\n035\0')],
  ],
  0,
);

/** An ext4 system partition holding the APK and a vendor model, made by mke2fs -d. */
function ext4System(name: string): Uint8Array {
  const root = path.join(tmp, `${name}-root`);
  fs.mkdirSync(path.join(root, 'system/app/Pay'), { recursive: true });
  fs.mkdirSync(path.join(root, 'system/etc/models'), { recursive: true });
  fs.writeFileSync(path.join(root, 'system/app/Pay/Pay.apk'), apk);
  fs.writeFileSync(path.join(root, 'system/etc/models/kiosk.onnx'), onnx);
  const img = path.join(tmp, `${name}.img`);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', root, img, '16M']);
  return fs.readFileSync(img);
}

const tools = hasTool('mke2fs') && hasTool('xz');

describe.skipIf(!tools)('firmware end to end', () => {
  it('finds a model in an APK in an ext4 system partition in a super.img in a full-OTA payload.bin in an OTA zip', async () => {
    const system = ext4System('system');
    const superImg = new LpBuilder({ slotCount: 2 }).partition('system_a').partition('system_b').linear('system_a', system).build();
    const payload = buildPayload({
      partitions: [{ name: 'super', image: superImg, kinds: ['REPLACE_XZ', 'REPLACE', 'REPLACE_ZSTD', 'REPLACE_BZ'], chunkBlocks: 256 }],
    });
    const ota = path.join(tmp, 'pos-ota.zip');
    fs.writeFileSync(
      ota,
      buildZip(
        [
          ['META-INF/com/android/metadata', enc('ota-type=AB\n')],
          ['payload.bin', payload],
          ['payload_properties.txt', enc('FILE_HASH=x\n')],
        ],
        0,
      ),
    );

    const inv = await scan([ota]);
    expect(inventorySchema.parse(inv)).toBeTruthy();
    const base = `${ota}!/payload.bin!/super!/system_a!/system`;
    expect(modelsOf(inv).map((m) => [m.location, m.format, m.sha256])).toEqual([
      [`${base}/app/Pay/Pay.apk!/assets/ocr.tflite`, 'tflite', sha(tflite)],
      [`${base}/etc/models/kiosk.onnx`, 'onnx', sha(onnx)],
    ]);
    expect(modelsOf(inv)[0]!.metadata).toMatchObject({ modelMetadata: { name: 'Receipt OCR', version: '3.1' } });
    expect(inv.problems).toEqual([]);
  });

  it('finds a model in an APEX payload image and in a compressed APEX (CAPEX) holding it', async () => {
    const root = path.join(tmp, 'apex-root');
    fs.mkdirSync(path.join(root, 'etc/npu'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/npu/kiosk.onnx'), onnx);
    const payloadImg = path.join(tmp, 'apex_payload.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', root, payloadImg, '4M']);
    // An APEX is a zip whose apex_payload.img (ext4 or EROFS) is stored; a CAPEX stores the APEX as original_apex.
    const apex = buildZip(
      [
        ['apex_manifest.pb', enc('\n\x0ecom.vendor.npu')],
        ['apex_payload.img', fs.readFileSync(payloadImg)],
        ['apex_pubkey', enc('key')],
      ],
      0,
    );
    const capex = buildZip(
      [
        ['apex_manifest.pb', enc('\n\x0ecom.vendor.npu')],
        ['original_apex', apex],
      ],
      0,
    );
    const dir = path.join(tmp, 'apexes');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'com.vendor.npu.apex'), apex);
    fs.writeFileSync(path.join(dir, 'com.vendor.npu.capex'), capex);
    const inv = await scan([dir]);
    expect(modelsOf(inv).map((m) => [m.location, m.sha256])).toEqual([
      [`${dir}/com.vendor.npu.apex!/apex_payload.img!/etc/npu/kiosk.onnx`, sha(onnx)],
      [`${dir}/com.vendor.npu.capex!/original_apex!/apex_payload.img!/etc/npu/kiosk.onnx`, sha(onnx)],
    ]);
    expect(inv.stats.duplicates).toBe(1); // the CAPEX's APEX is the same bytes as the plain one
  });

  it.skipIf(!hasTool('img2simg'))('finds the same models in a sparse system.img inside a factory tar.gz, and reports each location once', async () => {
    const system = ext4System('factory');
    const raw = path.join(tmp, 'factory-system.raw');
    fs.writeFileSync(raw, system);
    const dir = path.join(tmp, 'factory');
    fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
    execFileSync('img2simg', [raw, path.join(dir, 'images', 'system.img')]);
    fs.copyFileSync(path.join(dir, 'images', 'system.img'), path.join(dir, 'images', 'system_other.img')); // same bytes twice
    const tgz = path.join(tmp, 'factory.tar.gz');
    execFileSync('tar', ['-czf', tgz, '-C', dir, 'images']);

    const inv = await scan([tgz]);
    const locs = modelsOf(inv).map((m) => m.location);
    expect(locs).toEqual([
      `${tgz}!/images/system.img!/system.raw!/system/app/Pay/Pay.apk!/assets/ocr.tflite`,
      `${tgz}!/images/system.img!/system.raw!/system/etc/models/kiosk.onnx`,
      `${tgz}!/images/system_other.img!/system_other.raw!/system/app/Pay/Pay.apk!/assets/ocr.tflite`,
      `${tgz}!/images/system_other.img!/system_other.raw!/system/etc/models/kiosk.onnx`,
    ]);
    expect(inv.stats.duplicates).toBe(1); // the second sparse image was recognised, not walked again
    expect(inv.problems).toEqual([]);
  });
});

describe('declared sizes', () => {
  it('refuses a partition that declares more than the scan may decompress (a terabyte of zeros), quickly', async () => {
    const img = path.join(tmp, 'huge-super.img');
    // 2^31 sectors of 512 bytes: 1 TiB of ZERO extent, in a super image of a few kilobytes.
    fs.writeFileSync(
      img,
      new LpBuilder({ slotCount: 1 })
        .partition('userdata')
        .zero('userdata', 2 ** 31)
        .build(),
    );
    const t0 = Date.now();
    const inv = await scan([img], { limits: { maxDecompressedBytes: 1024 ** 3 } });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(inv.problems).toEqual([expect.objectContaining({ location: `${img}!/userdata`, code: 'limit' })]);
  });

  it.skipIf(!hasTool('xz'))('counts blocks decoded inside virtual images (payload operations) against maxDecompressedBytes', async () => {
    const part = (i: number): Uint8Array => {
      const m = new TfliteBuilder()
        .description(`part ${i}`)
        .subgraph((sg) =>
          sg
            .name('m')
            .tensor('x', 'float32', [1, 4])
            .tensor('w', 'int8', [1536, 1024], { data: crypto.randomBytes(1536 * 1024) })
            .tensor('y', 'float32', [1, 4])
            .operator('FULLY_CONNECTED', [0, 1], [2])
            .inputs([0])
            .outputs([2]),
        )
        .build();
      const img = new Uint8Array(Math.ceil(m.length / 4096) * 4096);
      img.set(m);
      return img;
    };
    const payload = path.join(tmp, 'budget-payload.bin');
    fs.writeFileSync(payload, buildPayload({ partitions: [1, 2, 3].map((i) => ({ name: `p${i}`, image: part(i), kinds: ['REPLACE_XZ'] as const })) }));
    const inv = await scan([payload], { limits: { maxDecompressedBytes: 4 * 1024 * 1024 } });
    // Each partition is ~1.5 MiB decoded from xz operations: two fit in 4 MiB, the third does not.
    expect(modelsOf(inv).map((m) => m.location)).toEqual([`${payload}!/p1`, `${payload}!/p2`]);
    expect(inv.problems).toEqual([
      expect.objectContaining({ location: `${payload}!/p3`, code: 'limit', message: expect.stringMatching(/maxDecompressedBytes/) }),
    ]);
    expect(inv.stats.decompressedBytes).toBeGreaterThan(3 * 1024 * 1024);
  });
});
