import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import type { Component } from '../../src/inventory/schema.js';
import { buildAxml, manifest } from '../builders/axml-builder.js';
import { buildElf } from '../builders/elf-builder.js';
import { LpBuilder } from '../builders/lp-builder.js';
import { buildPayload } from '../builders/ota-builder.js';
import { buildZip, tinyTflite } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';

// Who ships and who runs each model, on an OTA built by the test suite: an OTA zip -> payload.bin ->
// super.img -> ext4 system partition (mke2fs -d) holding two apps and a system TFLite runtime.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-fw-link-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const tfliteJni = (tag: string): Uint8Array => buildElf({ soname: 'libtensorflowlite_jni.so', symbols: [{ name: 'TfLiteInterpreterCreate' }], rodata: tag });
const find = (inv: Inventory, pred: (c: Component) => boolean, what: string): Component => {
  const c = inv.components.find(pred);
  if (c === undefined) throw new Error(`no ${what}`);
  return c;
};

describe.skipIf(!hasTool('mke2fs'))('linking on an OTA image', () => {
  it('app with model and runtime; app with a model and the system runtime; runtimes with ABIs', async () => {
    const root = path.join(tmp, 'root');
    fs.mkdirSync(path.join(root, 'system/app/Pos'), { recursive: true });
    fs.mkdirSync(path.join(root, 'system/app/Scan'), { recursive: true });
    fs.mkdirSync(path.join(root, 'system/lib64'), { recursive: true });
    const posModel = tinyTflite('pos');
    const scanModel = tinyTflite('scan');
    fs.writeFileSync(
      path.join(root, 'system/app/Pos/Pos.apk'),
      buildZip(
        [
          ['AndroidManifest.xml', buildAxml(manifest({ package: 'com.acme.pos', versionName: '1.0', permissions: ['android.permission.CAMERA'] }))],
          ['assets/pos.tflite', posModel],
          ['lib/arm64-v8a/libtensorflowlite_jni.so', tfliteJni('in-app')],
        ],
        0,
        { deflate: true },
      ),
    );
    fs.writeFileSync(
      path.join(root, 'system/app/Scan/Scan.apk'),
      buildZip(
        [
          ['AndroidManifest.xml', buildAxml(manifest({ package: 'com.acme.scan', versionName: '2.0' }))],
          ['assets/scan.tflite', scanModel],
        ],
        0,
      ),
    );
    fs.writeFileSync(path.join(root, 'system/lib64/libtensorflowlite_jni.so'), tfliteJni('system'));
    const img = path.join(tmp, 'system.img');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', root, img, '16M']);
    const superImg = new LpBuilder({ slotCount: 2 }).partition('system_a').linear('system_a', fs.readFileSync(img)).build();
    const payload = buildPayload({ partitions: [{ name: 'super', image: superImg, kinds: ['REPLACE'], chunkBlocks: 256 }] });
    const ota = path.join(tmp, 'ota.zip');
    fs.writeFileSync(
      ota,
      buildZip(
        [
          ['META-INF/com/android/metadata', enc('ota-type=AB\n')],
          ['payload.bin', payload],
        ],
        0,
      ),
    );

    const inv = inventorySchema.parse(await scan([ota])) as Inventory;
    const base = `${ota}!/payload.bin!/super!/system_a!/system`;
    const pos = find(inv, (c) => c.kind === 'app' && c.name === 'com.acme.pos', 'pos app');
    const scanApp = find(inv, (c) => c.kind === 'app' && c.name === 'com.acme.scan', 'scan app');
    const at = (p: string) => (c: Component) => c.locations.some((l) => l.path === p);
    const posM = find(inv, at(`${base}/app/Pos/Pos.apk!/assets/pos.tflite`), 'pos model');
    const scanM = find(inv, at(`${base}/app/Scan/Scan.apk!/assets/scan.tflite`), 'scan model');
    const appRt = find(inv, at(`${base}/app/Pos/Pos.apk!/lib/arm64-v8a/libtensorflowlite_jni.so`), 'in-app runtime');
    const sysRt = find(inv, at(`${base}/lib64/libtensorflowlite_jni.so`), 'system runtime');
    expect(appRt.id).not.toBe(sysRt.id);
    const rel = (from: Component, type: string, to: Component) => ({ from: from.id, type, to: to.id });
    expect(inv.relationships).toEqual(
      expect.arrayContaining([
        rel(pos, 'ships', posM),
        rel(pos, 'depends-on', appRt),
        rel(appRt, 'can-load', posM),
        rel(sysRt, 'can-load', posM),
        rel(scanApp, 'ships', scanM),
        rel(sysRt, 'can-load', scanM),
      ]),
    );
    // A runtime inside one app is not in reach of another app's model.
    expect(inv.relationships.filter((r) => r.from === appRt.id && r.to === scanM.id)).toEqual([]);
    // The system runtime belongs to no app.
    expect(inv.relationships.filter((r) => r.type === 'depends-on' && r.to === sysRt.id)).toEqual([]);
    expect(inv.problems).toEqual([]);
  });
});
