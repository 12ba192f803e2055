import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import type { Component } from '../../src/inventory/schema.js';
import { buildAxml, manifest } from '../builders/axml-builder.js';
import { buildDex } from '../builders/dex-builder.js';
import { buildElf } from '../builders/elf-builder.js';
import { buildZip, tinyTflite } from '../builders/tflite-builder.js';

// End to end through the real pipeline with the built-in analyzers: an APK (our zip writer, our AXML
// writer) holding a TFLite model, the TFLite JNI library and a dex; who ships and who runs the model.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-apps-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const valid = (inv: Inventory): Inventory => inventorySchema.parse(inv) as Inventory;
const byName = (inv: Inventory, name: string): Component => {
  const c = inv.components.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no component ${name} in ${inv.components.map((x) => x.name).join(', ')}`);
  return c;
};

function apk(opts: { model?: boolean; runtime?: boolean; deflate?: boolean; metaData?: Record<string, string> } = {}): Uint8Array {
  const files: [string, Uint8Array][] = [
    [
      'AndroidManifest.xml',
      buildAxml(
        manifest({
          package: 'com.acme.pos',
          versionCode: 42,
          versionName: '3.1.0',
          minSdk: 24,
          targetSdk: 34,
          permissions: ['android.permission.CAMERA', 'android.permission.INTERNET'],
          metaData: opts.metaData ?? {},
        }),
      ),
    ],
    ['classes.dex', buildDex(['com.acme.pos.Main', 'org.tensorflow.lite.Interpreter'], ['https://api.openai.com/v1/chat/completions', 'ocr.tflite'])],
  ];
  if (opts.model !== false) files.push(['assets/ocr.tflite', tinyTflite('ocr')]);
  if (opts.runtime !== false)
    files.push([
      'lib/arm64-v8a/libtensorflowlite_jni.so',
      buildElf({ soname: 'libtensorflowlite_jni.so', symbols: [{ name: 'Java_org_tensorflow_lite_NativeInterpreterWrapper_run' }] }),
    ]);
  files.push(['META-INF/com.google.mlkit_vision-common.version', enc('17.3.0\n')]);
  return buildZip(files, 0, { deflate: opts.deflate ?? false });
}

describe('Android apps end to end', () => {
  it('app ships the model, depends on the runtime and SDKs it bundles; the runtime can load the model', async () => {
    const d = path.join(tmp, 'e2e');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'Pos.apk'), apk({ deflate: true }));
    const inv = valid(await scan([d]));
    const app = byName(inv, 'com.acme.pos');
    const model = inv.components.find((c) => c.kind === 'model')!;
    const rt = byName(inv, 'TensorFlow Lite / LiteRT');
    const java = byName(inv, 'TensorFlow Lite Java API');
    const svc = byName(inv, 'OpenAI API');
    expect(app).toMatchObject({ kind: 'app', version: '3.1.0', locations: [{ path: `${d}/Pos.apk` }] });
    expect(app.kind === 'app' && app.software.properties).toEqual({
      package: 'com.acme.pos',
      versionCode: '42',
      minSdk: '24',
      targetSdk: '34',
      permissions: 'CAMERA,INTERNET',
      sensitivePermissions: 'CAMERA,INTERNET',
    });
    expect(rt).toMatchObject({ kind: 'runtime', locations: [{ path: `${d}/Pos.apk!/lib/arm64-v8a/libtensorflowlite_jni.so` }] });
    expect(rt.kind === 'runtime' && rt.software.properties?.abi).toBe('arm64-v8a');
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'ships', to: model.id });
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'depends-on', to: rt.id });
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'depends-on', to: java.id });
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'depends-on', to: svc.id });
    expect(inv.relationships).toContainEqual({ from: rt.id, type: 'can-load', to: model.id });
    // The dex that uses the TFLite Java API names the model file: direct evidence, `loads`.
    expect(inv.relationships).toContainEqual({ from: java.id, type: 'loads', to: model.id });
    expect(java.kind === 'sdk' && java.software.properties?.modelRefs).toBe('ocr.tflite');
    expect(inv.relationships).not.toContainEqual({ from: rt.id, type: 'loads', to: model.id });
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'contains', to: model.id });
    // The META-INF .version file is a Maven package of ML Kit, and names the ML Kit SDK with its version.
    const mlkitPkg = byName(inv, 'com.google.mlkit:vision-common');
    expect(mlkitPkg).toMatchObject({ kind: 'package', version: '17.3.0' });
    expect(inv.problems.filter((p) => p.code === 'no-runtime')).toEqual([]);
  });

  it('a model with no runtime in reach is flagged (info)', async () => {
    const d = path.join(tmp, 'no-runtime');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'Pos.apk'), apk({ runtime: false }));
    fs.writeFileSync(
      path.join(d, 'Other.apk'),
      buildZip(
        [
          ['AndroidManifest.xml', buildAxml(manifest({ package: 'com.other' }))],
          ['lib/arm64-v8a/libtensorflowlite_jni.so', buildElf({ soname: 'libtensorflowlite_jni.so' })],
        ],
        0,
      ),
    );
    const inv = valid(await scan([d]));
    // The dex's TFLite Java API is in the app, so the model is in reach of it; drop it to see the flag.
    const java = byName(inv, 'TensorFlow Lite Java API');
    const model = inv.components.find((c) => c.kind === 'model')!;
    expect(inv.relationships).toContainEqual({ from: java.id, type: 'loads', to: model.id });
    // The runtime inside another app is not in reach of this app's model.
    const rt = byName(inv, 'TensorFlow Lite / LiteRT');
    expect(inv.relationships.filter((r) => r.from === rt.id && r.to === model.id)).toEqual([]);

    const d2 = path.join(tmp, 'no-runtime-2');
    fs.mkdirSync(d2);
    fs.writeFileSync(
      path.join(d2, 'Bare.apk'),
      buildZip(
        [
          ['AndroidManifest.xml', buildAxml(manifest({ package: 'com.bare' }))],
          ['assets/m.tflite', tinyTflite('bare')],
        ],
        0,
      ),
    );
    const inv2 = valid(await scan([d2]));
    expect(inv2.problems.filter((p) => p.code === 'no-runtime')).toEqual([
      {
        location: `${d2}/Bare.apk!/assets/m.tflite`,
        severity: 'info',
        code: 'no-runtime',
        message: expect.stringContaining('No runtime or SDK that loads tflite'),
      },
    ]);
  });

  it('a runtime on the same partition (outside any app) is in reach; ML Kit unbundled models are a remote dependency', async () => {
    const d = path.join(tmp, 'system');
    fs.mkdirSync(path.join(d, 'system/lib64'), { recursive: true });
    fs.mkdirSync(path.join(d, 'system/app'), { recursive: true });
    fs.writeFileSync(path.join(d, 'system/lib64/libtensorflowlite_jni.so'), buildElf({ soname: 'libtensorflowlite_jni.so' }));
    const bare = buildZip(
      [
        [
          'AndroidManifest.xml',
          buildAxml(manifest({ package: 'com.scan', metaData: { 'com.google.mlkit.vision.DEPENDENCIES': 'ocr,face' } }), { utf8: true, obfuscateNames: true }),
        ],
        ['assets/m.tflite', tinyTflite('sys')],
      ],
      0,
    );
    fs.writeFileSync(path.join(d, 'system/app/Scan.apk'), bare);
    const inv = valid(await scan([d]));
    const rt = byName(inv, 'TensorFlow Lite / LiteRT');
    const model = inv.components.find((c) => c.kind === 'model')!;
    expect(inv.relationships).toContainEqual({ from: rt.id, type: 'can-load', to: model.id });
    const app = byName(inv, 'com.scan');
    expect(app.kind === 'app' && app.software.properties?.remoteModels).toBe('mlkit:ocr,face');
    const remote = byName(inv, 'Google ML Kit (models downloaded at run time)');
    expect(remote).toMatchObject({ kind: 'sdk', locations: [{ path: `${d}/system/app/Scan.apk!/AndroidManifest.xml` }] });
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'depends-on', to: remote.id });
  });

  it('a corrupt manifest is a problem on the APK, and the scan goes on', async () => {
    const d = path.join(tmp, 'corrupt');
    fs.mkdirSync(d);
    const axml = buildAxml(manifest({ package: 'com.x' }));
    new DataView(axml.buffer).setUint32(12, 0x7fffffff, true); // string pool size
    fs.writeFileSync(
      path.join(d, 'Bad.apk'),
      buildZip(
        [
          ['AndroidManifest.xml', axml],
          ['assets/m.tflite', tinyTflite('bad')],
        ],
        0,
      ),
    );
    const inv = valid(await scan([d]));
    expect(inv.components.filter((c) => c.kind === 'app')).toEqual([]);
    expect(inv.problems).toContainEqual({
      location: `${d}/Bad.apk`,
      severity: 'warning',
      code: 'format',
      message: expect.stringMatching(/^AndroidManifest\.xml: Invalid AXML: chunk 0x1 at offset 8 declares 2147483647 bytes/),
    });
  });
});

describe('packages', () => {
  it('npm, Python, Maven and dpkg/opkg manifests become packages with purls; a package owns its folder', async () => {
    const d = path.join(tmp, 'pkgs');
    const w = (p: string, s: string | Uint8Array): void => {
      fs.mkdirSync(path.dirname(path.join(d, p)), { recursive: true });
      fs.writeFileSync(path.join(d, p), s);
    };
    w('app/node_modules/onnxruntime-web/package.json', JSON.stringify({ name: 'onnxruntime-web', version: '1.19.2', license: 'MIT' }));
    w('app/node_modules/@xenova/transformers/package.json', JSON.stringify({ name: '@xenova/transformers', version: '2.17.2' }));
    w('app/node_modules/@xenova/transformers/models/m.tflite', tinyTflite('npm'));
    w(
      'usr/lib/python3/site-packages/onnxruntime-1.18.0.dist-info/METADATA',
      'Metadata-Version: 2.1\nName: onnxruntime\nVersion: 1.18.0\nLicense: MIT License\n\nlong text\n',
    );
    w(
      'var/lib/dpkg/status',
      'Package: libtesseract5\nStatus: install ok installed\nMaintainer: Debian\nArchitecture: arm64\nVersion: 5.3.0-2\n\nPackage: removed\nStatus: deinstall ok config-files\nVersion: 1\n\n',
    );
    w('usr/lib/opkg/status', 'Package: tflite\nVersion: 2.14.0-r0\nStatus: install user installed\nArchitecture: cortexa53\nInstalled-Time: 1700000000\n\n');
    const inv = valid(await scan([d]));
    const pkgs = inv.components.filter((c) => c.kind === 'package').map((c) => [c.name, c.version, c.kind === 'package' ? c.software.purl : '']);
    expect(pkgs).toEqual(
      expect.arrayContaining([
        ['onnxruntime-web', '1.19.2', 'pkg:npm/onnxruntime-web@1.19.2'],
        ['@xenova/transformers', '2.17.2', 'pkg:npm/%40xenova/transformers@2.17.2'],
        ['onnxruntime', '1.18.0', 'pkg:pypi/onnxruntime@1.18.0'],
        ['libtesseract5', '5.3.0-2', 'pkg:deb/libtesseract5@5.3.0-2?arch=arm64'],
        ['tflite', '2.14.0-r0', 'pkg:generic/tflite@2.14.0-r0?arch=cortexa53'],
      ]),
    );
    expect(pkgs.some(([n]) => n === 'removed')).toBe(false);
    const web = byName(inv, 'ONNX Runtime Web');
    expect(web).toMatchObject({ kind: 'runtime', version: '1.19.2' });
    const tjs = inv.components.find((c) => c.kind === 'package' && c.name === '@xenova/transformers')!;
    const model = inv.components.find((c) => c.kind === 'model')!;
    expect(inv.relationships).toContainEqual({ from: tjs.id, type: 'ships', to: model.id });
    const ort = inv.components.find((c) => c.kind === 'runtime' && c.name === 'ONNX Runtime')!;
    expect(ort).toMatchObject({ version: '1.18.0' });
  });

  it('a runtime in a dependency package (node_modules) is in reach of the models of the package that depends on it', async () => {
    const d = path.join(tmp, 'electron');
    const w = (p: string, s: string | Uint8Array): void => {
      fs.mkdirSync(path.dirname(path.join(d, p)), { recursive: true });
      fs.writeFileSync(path.join(d, p), s);
    };
    w('resources/app/package.json', JSON.stringify({ name: 'kiosk-app', version: '4.0.0' }));
    w('resources/app/models/m.tflite', tinyTflite('electron'));
    w('resources/app/node_modules/tflite-native/package.json', JSON.stringify({ name: 'tflite-native', version: '0.1.0' }));
    w('resources/app/node_modules/tflite-native/lib/libtensorflowlite_c.so', buildElf({ soname: 'libtensorflowlite_c.so' }));
    w('other/package.json', JSON.stringify({ name: 'other', version: '1.0.0' }));
    w('other/libtensorflowlite_c.so', buildElf({ soname: 'libtensorflowlite_c.so', rodata: 'other copy' }));
    const inv = valid(await scan([d]));
    const model = inv.components.find((c) => c.kind === 'model')!;
    const app = inv.components.find((c) => c.kind === 'package' && c.name === 'kiosk-app')!;
    const rts = inv.components.filter((c) => c.kind === 'runtime');
    const inApp = rts.find((c) => c.locations[0]!.path.includes('resources/app/'))!;
    const other = rts.find((c) => c.locations[0]!.path.includes('/other/'))!;
    expect(inv.relationships).toContainEqual({ from: app.id, type: 'ships', to: model.id });
    expect(inv.relationships).toContainEqual({ from: inApp.id, type: 'can-load', to: model.id });
    expect(inv.relationships.filter((r) => r.from === other.id && r.to === model.id)).toEqual([]);
  });
});
