import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inventorySchema, scan, type Inventory } from '../../src/index.js';
import type { Component } from '../../src/inventory/schema.js';
import { MAX_LIST_BYTES, MAX_LIST_ENTRIES, parseFileList } from '../../src/runtimes/packages.js';
import { asarFile, buildAsar } from '../builders/asar-builder.js';
import { buildElf } from '../builders/elf-builder.js';
import { OnnxBuilder } from '../builders/onnx-builder.js';
import { buildZip } from '../builders/tflite-builder.js';
import { hasTool } from '../helpers/corpus.js';

// Who ships a model, from the file lists of the package managers: Python RECORD / installed-files.txt,
// dpkg and opkg info/<pkg>.list joined to their status databases. Trees written by the test.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aibom-owners-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A distinct ONNX model per tag (identical bytes would be one component). */
const onnx = (tag: string): Uint8Array =>
  new OnnxBuilder()
    .producer(`aibom-test-${tag}`, '1.0')
    .opset('', 17)
    .input('x', 'float32', [4])
    .node('Relu', ['x'], ['y'])
    .output('y', 'float32', [4])
    .build();
const ortLib = (tag: string): Uint8Array => buildElf({ soname: 'libonnxruntime.so.1', symbols: [{ name: 'OrtGetApiBase' }], rodata: tag });

function write(root: string, files: Record<string, string | Uint8Array>): void {
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  }
}

const find = (inv: Inventory, pred: (c: Component) => boolean, what: string): Component => {
  const c = inv.components.find(pred);
  if (c === undefined) throw new Error(`no ${what}`);
  return c;
};
const purlOf = (c: Component): string | undefined => ('software' in c ? c.software.purl : undefined);
const at = (p: string) => (c: Component) => c.locations.some((l) => l.path === p);
const named = (kind: Component['kind'], name: string) => (c: Component) => c.kind === kind && c.name === name;
const rel = (from: Component, type: string, to: Component) => ({ from: from.id, type, to: to.id });
const shippers = (inv: Inventory, m: Component): string[] => inv.relationships.filter((r) => r.type === 'ships' && r.to === m.id).map((r) => r.from);

const metadata = (name: string, version: string): string => `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\n`;

describe('Python distributions own the files their RECORD names', () => {
  it('ships a listed model; a runtime listed by another distribution is its dependency and can load the model', async () => {
    const root = path.join(tmp, 'py');
    const sp = 'usr/lib/python3/site-packages';
    write(root, {
      [`${sp}/acme_ocr-1.0.dist-info/METADATA`]: metadata('acme-ocr', '1.0'),
      [`${sp}/acme_ocr-1.0.dist-info/RECORD`]: [
        'acme_ocr/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0',
        'acme_ocr/models/det.onnx,sha256=x,100',
        '"acme_ocr/models/with,comma.onnx",sha256=x,100',
        // A script installed beside the interpreter: outside site-packages, not followed.
        '../../../bin/escape.onnx,,',
        'acme_ocr-1.0.dist-info/METADATA,,',
        'acme_ocr-1.0.dist-info/RECORD,,',
      ].join('\n'),
      [`${sp}/acme_ocr/models/det.onnx`]: onnx('det'),
      [`${sp}/acme_ocr/models/with,comma.onnx`]: onnx('comma'),
      [`${sp}/onnxruntime-1.20.0.dist-info/METADATA`]: metadata('onnxruntime', '1.20.0'),
      [`${sp}/onnxruntime-1.20.0.dist-info/RECORD`]: 'onnxruntime/capi/libonnxruntime.so.1.20.0,,\nonnxruntime-1.20.0.dist-info/RECORD,,\n',
      [`${sp}/onnxruntime/capi/libonnxruntime.so.1.20.0`]: ortLib('py'),
      [`${sp}/legacy-0.1.egg-info/PKG-INFO`]: metadata('legacy', '0.1'),
      [`${sp}/legacy-0.1.egg-info/installed-files.txt`]: '../legacy/w.onnx\nPKG-INFO\n../../../../../../etc/x.onnx\n',
      [`${sp}/legacy/w.onnx`]: onnx('legacy'),
      [`${sp}/stray/loose.onnx`]: onnx('loose'),
      'usr/bin/escape.onnx': onnx('escape'),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const base = `${root}/${sp}`;
    const acme = find(inv, named('package', 'acme-ocr'), 'acme-ocr distribution');
    const ortPkg = find(inv, named('package', 'onnxruntime'), 'onnxruntime distribution');
    const legacy = find(inv, named('package', 'legacy'), 'legacy egg');
    const det = find(inv, at(`${base}/acme_ocr/models/det.onnx`), 'det model');
    const comma = find(inv, at(`${base}/acme_ocr/models/with,comma.onnx`), 'quoted model');
    const w = find(inv, at(`${base}/legacy/w.onnx`), 'egg model');
    const loose = find(inv, at(`${base}/stray/loose.onnx`), 'unlisted model');
    const escaped = find(inv, at(`${root}/usr/bin/escape.onnx`), 'model outside site-packages');
    const ort = find(inv, at(`${base}/onnxruntime/capi/libonnxruntime.so.1.20.0`), 'runtime library');
    expect(inv.relationships).toEqual(
      expect.arrayContaining([
        rel(acme, 'ships', det),
        rel(acme, 'ships', comma),
        rel(legacy, 'ships', w),
        rel(ortPkg, 'depends-on', ort),
        // Installed into site-packages, where any program may import it: in reach of other distributions' models.
        rel(ort, 'can-load', det),
        rel(ort, 'can-load', loose),
      ]),
    );
    expect(shippers(inv, loose)).toEqual([]);
    expect(shippers(inv, escaped)).toEqual([]);
    expect(inv.relationships.filter((r) => r.type === 'depends-on' && r.to === ort.id).map((r) => r.from)).toEqual([ortPkg.id]);
  });

  it('SOURCES.txt of an egg-info (src layout) and a wheel whose RECORD names its own members', async () => {
    const root = path.join(tmp, 'py-more');
    write(root, {
      'sp/srclay-2.0.egg-info/PKG-INFO': metadata('srclay', '2.0'),
      'sp/srclay-2.0.egg-info/SOURCES.txt': 'setup.py\nsrc/srclay/__init__.py\nsrc/srclay/m.onnx\nsrc/srclay.egg-info/PKG-INFO\n',
      'sp/srclay/m.onnx': onnx('srclay'),
      'wheels/whee-0.1-py3-none-any.whl': buildZip(
        [
          ['whee-0.1.dist-info/METADATA', new TextEncoder().encode(metadata('whee', '0.1'))],
          ['whee-0.1.dist-info/RECORD', new TextEncoder().encode('whee/m.onnx,sha256=x,1\nwhee-0.1.dist-info/RECORD,,\n')],
          ['whee/m.onnx', onnx('whee')],
        ],
        0,
      ),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const srclay = find(inv, named('package', 'srclay'), 'srclay');
    const whee = find(inv, named('package', 'whee'), 'whee');
    expect(shippers(inv, find(inv, at(`${root}/sp/srclay/m.onnx`), 'srclay model'))).toEqual([srclay.id]);
    expect(shippers(inv, find(inv, at(`${root}/wheels/whee-0.1-py3-none-any.whl!/whee/m.onnx`), 'wheel model'))).toEqual([whee.id]);
  });

  it('reads a RECORD as CSV, keeps only lists that look like one, and bounds what it keeps', () => {
    expect(parseFileList('RECORD', 'a/b.py,,\n"x,y.onnx",sha256=z,1\nd-1.dist-info/RECORD,,\n', false)?.paths).toEqual([
      'a/b.py',
      'x,y.onnx',
      'd-1.dist-info/RECORD',
    ]);
    // No `.dist-info/` member: some other file named RECORD.
    expect(parseFileList('RECORD', 'hello,world\n', false)).toBeUndefined();
    // An apt sources.list is not a package file list.
    expect(parseFileList('sources.list', 'deb http://deb.debian.org/debian bookworm main\n', false)).toBeUndefined();
    const many = `${Array.from({ length: MAX_LIST_ENTRIES + 5 }, (_, i) => `p/f${i}.py,,`).join('\n')}\np-1.dist-info/RECORD,,\n`;
    const big = parseFileList('RECORD', `p-1.dist-info/RECORD,,\n${many}`, false);
    expect(big?.paths.length).toBe(MAX_LIST_ENTRIES);
    expect(big?.truncated).toBe(true);
    // A text cut at the read limit drops its last, partial line.
    expect(parseFileList('x.list', '/usr/a\n/usr/b/partial-na', true)).toEqual({ kind: 'pkg', paths: ['/usr/a'], truncated: true });
  });

  it('an absurdly long RECORD is read up to its bound and reported', async () => {
    const root = path.join(tmp, 'py-big');
    const lines = Array.from({ length: MAX_LIST_ENTRIES + 10 }, (_, i) => `big/f${i}.py,,`);
    lines.push('big/late.onnx,,');
    write(root, {
      'big-1.dist-info/METADATA': metadata('big', '1'),
      'big-1.dist-info/RECORD': `big-1.dist-info/RECORD,,\nbig/early.onnx,,\n${lines.join('\n')}\n`,
      'big/early.onnx': onnx('early'),
      'big/late.onnx': onnx('late'),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const big = find(inv, named('package', 'big'), 'big distribution');
    expect(shippers(inv, find(inv, at(`${root}/big/early.onnx`), 'early'))).toEqual([big.id]);
    expect(shippers(inv, find(inv, at(`${root}/big/late.onnx`), 'late'))).toEqual([]);
    expect(inv.problems).toEqual(expect.arrayContaining([expect.objectContaining({ location: `${root}/big-1.dist-info/RECORD`, code: 'limit' })]));
  });

  it('a .list over the byte bound is read up to it: entries past it are not attributed, and that is reported', async () => {
    const root = path.join(tmp, 'deb-big');
    const filler = Array.from({ length: Math.ceil(MAX_LIST_BYTES / 200) + 100 }, (_, i) => `/usr/share/doc/big/${String(i).padStart(180, '0')}`);
    write(root, {
      'var/lib/dpkg/status': 'Package: big\nStatus: install ok installed\nMaintainer: B <b@b.test>\nArchitecture: all\nVersion: 1\n',
      'var/lib/dpkg/info/big.list': `/usr/share/big/early.onnx\n${filler.join('\n')}\n/usr/share/big/late.onnx\n`,
      'usr/share/big/early.onnx': onnx('deb-early'),
      'usr/share/big/late.onnx': onnx('deb-late'),
    });
    expect(fs.statSync(path.join(root, 'var/lib/dpkg/info/big.list')).size).toBeGreaterThan(MAX_LIST_BYTES);
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const big = find(inv, named('package', 'big'), 'big package');
    expect(shippers(inv, find(inv, at(`${root}/usr/share/big/early.onnx`), 'early'))).toEqual([big.id]);
    expect(shippers(inv, find(inv, at(`${root}/usr/share/big/late.onnx`), 'late'))).toEqual([]);
    expect(inv.problems).toEqual(expect.arrayContaining([expect.objectContaining({ location: `${root}/var/lib/dpkg/info/big.list`, code: 'limit' })]));
  });
});

/** A Debian root file system: two installed packages with file lists, one removed, one hostile entry. */
function debianRoot(root: string): void {
  write(root, {
    'var/lib/dpkg/status': [
      'Package: acme-vision\nStatus: install ok installed\nMaintainer: Acme <a@acme.test>\nArchitecture: arm64\nVersion: 2.0-1\n',
      'Package: libonnxruntime1\nStatus: install ok installed\nMaintainer: Debian <d@debian.test>\nArchitecture: arm64\nMulti-Arch: same\nVersion: 1.20.0-1\n',
      'Package: ghost\nStatus: deinstall ok config-files\nMaintainer: G <g@g.test>\nArchitecture: all\nVersion: 1\n',
    ].join('\n'),
    'var/lib/dpkg/info/acme-vision.list': [
      '/.',
      '/usr',
      '/usr/share/acme',
      '/usr/share/acme/face.onnx',
      '/usr/share/acme/models.zip',
      '/usr/share/acme/../../../opt/loose.onnx',
      '',
    ].join('\n'),
    'var/lib/dpkg/info/libonnxruntime1:arm64.list': '/usr/lib/aarch64-linux-gnu/libonnxruntime.so.1\n',
    'var/lib/dpkg/info/ghost.list': '/usr/share/ghost/g.onnx\n',
    'usr/share/acme/face.onnx': onnx('face'),
    'usr/share/acme/models.zip': buildZip([['inner.onnx', onnx('inner')]], 0),
    'usr/lib/aarch64-linux-gnu/libonnxruntime.so.1': ortLib('deb'),
    'usr/share/ghost/g.onnx': onnx('ghost'),
    'opt/loose.onnx': onnx('opt-loose'),
  });
}

function checkDebian(inv: Inventory, base: string, listLocation: string): void {
  const acme = find(inv, named('package', 'acme-vision'), 'acme-vision');
  const lib = find(inv, named('package', 'libonnxruntime1'), 'libonnxruntime1');
  const face = find(inv, at(`${base}usr/share/acme/face.onnx`), 'face model');
  const inner = find(inv, at(`${base}usr/share/acme/models.zip!/inner.onnx`), 'model in a listed zip');
  const ghost = find(inv, at(`${base}usr/share/ghost/g.onnx`), 'model of a removed package');
  const loose = find(inv, at(`${base}opt/loose.onnx`), 'unlisted model');
  const ort = find(inv, at(`${base}usr/lib/aarch64-linux-gnu/libonnxruntime.so.1`), 'runtime');
  expect(purlOf(acme)).toBe('pkg:deb/acme-vision@2.0-1?arch=arm64');
  expect(inv.relationships).toEqual(
    expect.arrayContaining([
      rel(acme, 'ships', face),
      rel(acme, 'ships', inner),
      rel(lib, 'depends-on', ort),
      rel(ort, 'can-load', face),
      rel(ort, 'can-load', loose),
    ]),
  );
  expect(shippers(inv, ghost)).toEqual([]);
  // `..` in a listed path is reported and not followed, even where it would land on a real file.
  expect(shippers(inv, loose)).toEqual([]);
  expect(inv.problems).toEqual(expect.arrayContaining([expect.objectContaining({ location: listLocation, code: 'hostile-path', severity: 'warning' })]));
}

describe('Debian and opkg packages own the paths their file lists name', () => {
  it('in a root file system folder', async () => {
    const root = path.join(tmp, 'deb');
    debianRoot(root);
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    checkDebian(inv, `${root}/`, `${root}/var/lib/dpkg/info/acme-vision.list`);
  });

  it('opkg: usr/lib/opkg/info/<pkg>.list beside usr/lib/opkg/status; a list of another root is not joined', async () => {
    const root = path.join(tmp, 'opkg');
    write(root, {
      'rootfs/usr/lib/opkg/status': 'Package: kws\nVersion: 0.3\nArchitecture: cortexa53\nStatus: install user installed\nInstalled-Time: 1700000000\n\n',
      'rootfs/usr/lib/opkg/info/kws.list': '/usr/share/kws/kws.onnx\n',
      'rootfs/usr/share/kws/kws.onnx': onnx('kws'),
      // The same relative paths in another tree, without a status database: no owner.
      'other/usr/lib/opkg/info/kws.list': '/usr/share/kws/kws.onnx\n',
      'other/usr/share/kws/kws.onnx': onnx('kws-other'),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const kws = find(inv, named('package', 'kws'), 'kws');
    expect(purlOf(kws)).toBe('pkg:generic/kws@0.3?arch=cortexa53');
    expect(shippers(inv, find(inv, at(`${root}/rootfs/usr/share/kws/kws.onnx`), 'kws model'))).toEqual([kws.id]);
    expect(shippers(inv, find(inv, at(`${root}/other/usr/share/kws/kws.onnx`), 'other model'))).toEqual([]);
  });

  it.skipIf(!hasTool('mke2fs'))('end to end in an ext4 image (mke2fs -d): paths are matched inside the image that holds the status file', async () => {
    const root = path.join(tmp, 'deb-img-root');
    debianRoot(root);
    const img = path.join(tmp, 'rootfs.ext4');
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', root, img, '8M']);
    const inv = inventorySchema.parse(await scan([img])) as Inventory;
    checkDebian(inv, `${img}!/`, `${img}!/var/lib/dpkg/info/acme-vision.list`);
    const image = find(inv, (c) => c.kind === 'image', 'the image');
    const loose = find(inv, at(`${img}!/opt/loose.onnx`), 'unlisted model');
    // Listed by no package: the image it was found in is where it comes from.
    expect(inv.relationships).toEqual(expect.arrayContaining([rel(image, 'contains', loose)]));
  });
});

describe.skipIf(!hasTool('tar'))('Debian packages in a root file system tarball', () => {
  it('a tar made with `tar -C root .` (members named ./var/...) joins lists, status and models the same way', async () => {
    const root = path.join(tmp, 'deb-tar-root');
    debianRoot(root);
    const tarball = path.join(tmp, 'rootfs.tar');
    execFileSync('tar', ['-cf', tarball, '-C', root, '.']);
    const inv = inventorySchema.parse(await scan([tarball])) as Inventory;
    const face = inv.components.find((c) => c.kind === 'model' && c.locations.some((l) => l.path.endsWith('usr/share/acme/face.onnx')));
    expect(face?.locations.map((l) => l.path)).toHaveLength(1);
    const base = face!.locations[0]!.path.slice(0, -'usr/share/acme/face.onnx'.length);
    checkDebian(inv, base, `${base}var/lib/dpkg/info/acme-vision.list`);
  });
});

describe('Electron apps own what is inside their app.asar or resources/app/ folder', () => {
  it('nearest owner wins: npm package inside an Electron app inside a Debian package', async () => {
    const root = path.join(tmp, 'electron');
    const res = 'opt/Acme/resources';
    const ortNode = 'node_modules/onnxruntime-node/bin/libonnxruntime.so.1';
    write(root, {
      'var/lib/dpkg/status':
        'Package: acme-kiosk-deb\nStatus: install ok installed\nMaintainer: Acme <a@acme.test>\nArchitecture: amd64\nVersion: 3.1.0\n\n' +
        'Package: other-models\nStatus: install ok installed\nMaintainer: O <o@o.test>\nArchitecture: all\nVersion: 1\n',
      'var/lib/dpkg/info/other-models.list': '/usr/share/other/o.onnx\n',
      'usr/share/other/o.onnx': onnx('other-models'),
      'var/lib/dpkg/info/acme-kiosk-deb.list': ['/opt/Acme', `/${res}/app.asar`, `/${res}/app.asar.unpacked/${ortNode}`, `/${res}/extra.onnx`, ''].join('\n'),
      // As electron-builder packs it: devDependencies and build stripped, so only the location says Electron.
      [`${res}/app.asar`]: buildAsar({
        'package.json': asarFile(JSON.stringify({ name: 'acme-kiosk', productName: 'Acme Kiosk', version: '3.1.0', main: 'main.js' })),
        'main.js': asarFile('require("onnxruntime-node")'),
        models: { 'face.onnx': asarFile(onnx('asar-face')) },
        node_modules: {
          'ocr-lite': { 'package.json': asarFile('{"name":"ocr-lite","version":"0.2.0","main":"index.js"}'), 'ocr.onnx': asarFile(onnx('ocr-lite')) },
          'onnxruntime-node': { bin: { 'libonnxruntime.so.1': asarFile('', { unpacked: true }) } },
        },
      }),
      [`${res}/app.asar.unpacked/${ortNode}`]: ortLib('electron'),
      [`${res}/extra.onnx`]: onnx('deb-extra'),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const asar = `${root}/${res}/app.asar`;
    const app = find(inv, named('app', 'Acme Kiosk'), 'Electron app');
    expect(app.version).toBe('3.1.0');
    expect(app.locations.map((l) => l.path)).toEqual([asar]);
    expect('software' in app ? app.software.properties : undefined).toMatchObject({ framework: 'electron', package: 'acme-kiosk', main: 'main.js' });
    const deb = find(inv, named('package', 'acme-kiosk-deb'), 'Debian package');
    const ocrPkg = find(inv, named('package', 'ocr-lite'), 'npm package');
    const face = find(inv, at(`${asar}!/models/face.onnx`), 'app model');
    const ocr = find(inv, at(`${asar}!/node_modules/ocr-lite/ocr.onnx`), 'npm package model');
    const extra = find(inv, at(`${root}/${res}/extra.onnx`), 'Debian model');
    const ort = find(inv, at(`${root}/${res}/app.asar.unpacked/${ortNode}`), 'unpacked runtime');
    expect(shippers(inv, face)).toEqual([app.id]);
    expect(shippers(inv, ocr)).toEqual([ocrPkg.id]);
    expect(shippers(inv, extra)).toEqual([deb.id]);
    expect(inv.relationships).toEqual(
      expect.arrayContaining([
        // The app is its archive: it holds the members, no separate archive component.
        rel(app, 'contains', face),
        // app.asar.unpacked/ is the app's: the runtime there is its dependency, not the Debian package's.
        rel(app, 'depends-on', ort),
        rel(ort, 'can-load', face),
        rel(ort, 'can-load', ocr),
      ]),
    );
    expect(inv.relationships.filter((r) => r.type === 'depends-on' && r.to === ort.id).map((r) => r.from)).toEqual([app.id]);
    // The Debian package ships both the runtime (in the app's unpacked folder) and extra.onnx beside it.
    expect(inv.relationships).toEqual(expect.arrayContaining([rel(ort, 'can-load', extra)]));
    // Kept to the app: a model of another package on the same file system is not in its reach.
    const other = find(inv, at(`${root}/usr/share/other/o.onnx`), 'other package model');
    expect(shippers(inv, other)).toEqual([find(inv, named('package', 'other-models'), 'other package').id]);
    expect(inv.relationships.filter((r) => r.from === ort.id && r.to === other.id)).toEqual([]);
    expect(inv.components.filter((c) => c.kind === 'archive')).toEqual([]);
  });

  it('an unpacked resources/app/ folder whose package.json names electron and a main script; look-alikes are not apps', async () => {
    const root = path.join(tmp, 'electron-folder');
    write(root, {
      'resources/app/package.json': JSON.stringify({
        name: 'tool',
        version: '1.2.0',
        main: 'main.js',
        scripts: { start: 'electron .' },
        devDependencies: { electron: '^30.0.0' },
      }),
      // A library for Electron apps, tested with Electron: main and devDependencies, nothing only an app has.
      'resources/app/node_modules/electron-store/package.json': JSON.stringify({
        name: 'electron-store',
        version: '10.0.0',
        main: 'index.js',
        scripts: { test: 'xo && electron-mocha test.js' },
        devDependencies: { electron: '^33.0.0' },
      }),
      'resources/app/node_modules/electron-store/defaults.onnx': onnx('electron-store'),
      'resources/app/models/kws.onnx': onnx('folder-kws'),
      // Electron named, but no main script: a library that wraps Electron, not an app.
      'lib/wrapper/package.json': JSON.stringify({ name: 'wrapper', version: '1.0.0', peerDependencies: {}, dependencies: { electron: '30' } }),
      'lib/wrapper/w.onnx': onnx('wrapper'),
      // A main script and no Electron: a Node package.
      'lib/plain/package.json': JSON.stringify({ name: 'plain', version: '1.0.0', main: 'index.js' }),
      'lib/plain/p.onnx': onnx('plain'),
    });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const app = find(inv, named('app', 'tool'), 'Electron app');
    expect('software' in app ? app.software.properties?.electron : undefined).toBe('^30.0.0');
    expect(shippers(inv, find(inv, at(`${root}/resources/app/models/kws.onnx`), 'kws'))).toEqual([app.id]);
    expect(inv.components.filter((c) => c.kind === 'app').map((c) => c.name)).toEqual(['tool']);
    const store = find(inv, named('package', 'electron-store'), 'electron-store');
    expect(shippers(inv, find(inv, at(`${root}/resources/app/node_modules/electron-store/defaults.onnx`), 'store model'))).toEqual([store.id]);
    expect(shippers(inv, find(inv, at(`${root}/lib/wrapper/w.onnx`), 'w'))).toEqual([find(inv, named('package', 'wrapper'), 'wrapper').id]);
    expect(shippers(inv, find(inv, at(`${root}/lib/plain/p.onnx`), 'p'))).toEqual([find(inv, named('package', 'plain'), 'plain').id]);
  });

  it('an asar whose manifest keeps the markers (Electron Forge) is one app with both locations', async () => {
    const root = path.join(tmp, 'electron-forge');
    const manifest = JSON.stringify({ name: 'forge-app', version: '0.1.0', main: 'main.js', config: { forge: {} }, devDependencies: { electron: '31.0.0' } });
    write(root, { 'resources/app.asar': buildAsar({ 'package.json': asarFile(manifest), 'm.onnx': asarFile(onnx('forge')) }) });
    const inv = inventorySchema.parse(await scan([root])) as Inventory;
    const apps = inv.components.filter((c) => c.kind === 'app');
    expect(apps.map((a) => a.locations.map((l) => l.path))).toEqual([[`${root}/resources/app.asar`, `${root}/resources/app.asar!/package.json`]]);
    expect(shippers(inv, find(inv, at(`${root}/resources/app.asar!/m.onnx`), 'model'))).toEqual([apps[0]!.id]);
  });

  it('an app.asar packed by the real tool (@electron/asar) with its runtime unpacked beside it', async () => {
    const real = await import('@electron/asar');
    const root = path.join(tmp, 'electron-real');
    const src = path.join(root, 'src');
    write(src, {
      'package.json': JSON.stringify({ name: 'real-kiosk', version: '2.0.0', main: 'main.js' }),
      'main.js': 'require("onnxruntime-node")\n',
      'models/cls.onnx': onnx('real-asar'),
      'node_modules/onnxruntime-node/bin/libonnxruntime.so.1': ortLib('real-asar'),
    });
    const res = path.join(root, 'resources');
    fs.mkdirSync(res);
    await real.createPackageWithOptions(src, path.join(res, 'app.asar'), { unpack: '*.so.1' });
    fs.rmSync(src, { recursive: true });
    const inv = inventorySchema.parse(await scan([res])) as Inventory;
    const app = find(inv, named('app', 'real-kiosk'), 'Electron app');
    const model = find(inv, at(`${res}/app.asar!/models/cls.onnx`), 'model');
    const ort = find(inv, at(`${res}/app.asar.unpacked/node_modules/onnxruntime-node/bin/libonnxruntime.so.1`), 'unpacked runtime');
    expect(inv.relationships).toEqual(expect.arrayContaining([rel(app, 'ships', model), rel(app, 'depends-on', ort), rel(ort, 'can-load', model)]));
  });
});
