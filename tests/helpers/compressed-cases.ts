import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerReader } from '../../src/containers/types.js';
import { LimitError } from '../../src/errors.js';
import { BufferSource } from '../../src/io/byte-source.js';
import { isReleased } from '../../src/io/decoded-source.js';
import { createProbe } from '../../src/probe.js';
import { hasTool } from './corpus.js';
import { listEntries, makeContext, openFile, run, runBuffer, sha256Bytes, sha256Source, tempDir, type Listed } from './container-context.js';
import { prefixLengths, survivesByteFlips, survivesTruncations } from './hostile.js';

/** How one compression tool is driven for the shared tests. */
export interface CompressorSpec {
  reader: ContainerReader;
  /** The command-line tool, e.g. 'gzip'. */
  tool: string;
  /** Suffix it adds, e.g. '.gz'. */
  ext: string;
  /** Short tar suffix the reader knows, e.g. '.tgz'. */
  tarShort: string;
  /** Arguments that compress stdin to stdout. */
  compressArgs: string[];
  /** Whether bytes after the data that start no stream are ignored with a warning (else an error). */
  trailingGarbageTolerated: boolean;
}

/**
 * The tests every single-stream compression reader shares, each against the real tool: the sole
 * member and its name, a compressed tar as one level (and the decoded tar released afterwards),
 * concatenated streams, trailing padding and garbage, every prefix of a small file, and a bomb.
 */
export function compressedReaderTests(spec: CompressorSpec, extra?: (ctx: { dir: () => string; compress: (input: Buffer | string) => Buffer }) => void): void {
  const tools = hasTool(spec.tool) && hasTool('tar');
  describe.skipIf(!tools)(`${spec.reader.id} reader (against ${spec.tool})`, () => {
    let tmp: { dir: string; remove(): void };
    const compress = (input: Buffer | string): Buffer => runBuffer(spec.tool, spec.compressArgs, Buffer.from(input));
    const decompressWithTool = (file: string): Buffer => runBuffer(spec.tool, ['-d', '-c', file]);
    let model: Buffer;
    let modelFile: string;
    beforeAll(() => {
      tmp = tempDir();
      model = Buffer.concat([crypto.randomBytes(300_000), Buffer.alloc(700_000, 1), Buffer.from('tail')]);
      modelFile = path.join(tmp.dir, `model.bin${spec.ext}`);
      fs.writeFileSync(modelFile, compress(model));
    });
    afterAll(() => tmp.remove());

    it('matches its own output only', () => {
      expect(spec.reader.match(createProbe(openFile(modelFile), path.basename(modelFile)))).toBe(true);
      expect(spec.reader.match(createProbe(new BufferSource(model), 'model.bin'))).toBe(false);
      expect(spec.reader.match(createProbe(new BufferSource(new Uint8Array(1024)), 'zeros'))).toBe(false);
    });

    it(`yields model.bin${spec.ext} as model.bin, with the content ${spec.tool} -d gives`, async () => {
      const t = makeContext(path.basename(modelFile));
      const list = await listEntries(spec.reader, openFile(modelFile), t);
      expect(list).toEqual([{ path: 'model.bin', type: 'file', size: model.length, sha256: sha256Bytes(decompressWithTool(modelFile)) }]);
      expect(list[0]?.sha256).toBe(sha256Bytes(model));
      expect(t.problems).toEqual([]);
      expect(t.budget.memoryBytes).toBe(0); // released by listEntries
      t.cleanup();
    });

    it('names a member of an unknown name <name>.out', async () => {
      const t = makeContext('blob');
      const list = await listEntries(spec.reader, new BufferSource(compress('x')), t);
      expect(list.map((e) => e.path)).toEqual(['blob.out']);
      t.cleanup();
    });

    for (const tarName of [`bundle.tar${spec.ext}`, `bundle${spec.tarShort}`]) {
      it(`lists ${tarName} as ONE level: the tar's members, then releases the decoded tar`, async () => {
        const src = path.join(tmp.dir, 'tar-src');
        fs.rmSync(src, { recursive: true, force: true });
        fs.mkdirSync(path.join(src, 'dir'), { recursive: true });
        fs.writeFileSync(path.join(src, 'dir/model.onnx'), crypto.randomBytes(200_000));
        fs.writeFileSync(path.join(src, 'readme.txt'), 'hello');
        const tarFile = path.join(tmp.dir, 'bundle.tar');
        run('tar', ['-c', '-f', tarFile, '-C', src, 'dir', 'readme.txt']);
        const file = path.join(tmp.dir, tarName);
        fs.writeFileSync(file, compress(fs.readFileSync(tarFile)));
        const t = makeContext(tarName);
        const sources: unknown[] = [];
        const list = await listEntries(spec.reader, openFile(file), t, tarName, { onSource: (_p, s) => sources.push(s) });
        const names = run('tar', ['-tf', tarFile])
          .split('\n')
          .filter(Boolean)
          .map((n) => n.replace(/\/$/, ''))
          .sort();
        expect(list.map((e) => e.path)).toEqual(names); // 'dir/model.onnx', not 'bundle.tar!/dir/model.onnx'
        const model = list.find((e) => e.path === 'dir/model.onnx') as Listed;
        expect(model.sha256).toBe(sha256Bytes(fs.readFileSync(path.join(src, 'dir/model.onnx'))));
        // The walk is over: the decoded tar behind the members' slices was released.
        expect(t.budget.memoryBytes).toBe(0);
        expect(t.problems).toEqual([]);
        t.cleanup();
      });
    }

    it('decodes concatenated streams as the tool does', async () => {
      const a = compress('first part\n');
      const b = compress(Buffer.alloc(100_000, 2));
      const both = Buffer.concat([a, b]);
      const file = path.join(tmp.dir, `two${spec.ext}`);
      fs.writeFileSync(file, both);
      const t = makeContext(`two${spec.ext}`);
      const list = await listEntries(spec.reader, new BufferSource(both), t);
      expect(list[0]?.sha256).toBe(sha256Bytes(decompressWithTool(file)));
      expect(list[0]?.size).toBe(11 + 100_000);
      expect(t.problems).toEqual([]);
      t.cleanup();
    });

    it('handles bytes after the data: zero padding silently, garbage as the tool does', async () => {
      const data = fs.readFileSync(modelFile);
      const padded = makeContext('p');
      const p = await listEntries(spec.reader, new BufferSource(Buffer.concat([data, Buffer.alloc(4096)])), padded);
      expect(p[0]?.sha256).toBe(sha256Bytes(model));
      expect(padded.problems).toEqual([]);
      const junk = makeContext('j');
      const j = await listEntries(spec.reader, new BufferSource(Buffer.concat([data, Buffer.from('JUNK after the stream')])), junk);
      if (spec.trailingGarbageTolerated) {
        expect(j[0]?.sha256).toBe(sha256Bytes(model));
        expect(junk.problems).toEqual([expect.objectContaining({ severity: 'warning', code: 'format' })]);
      } else {
        expect(j[0]?.sha256).toMatch(/^error:(format|truncated)$/);
      }
    });

    it('survives every prefix of a small file: typed errors, never a crash or a hang', async () => {
      const full = compress(Buffer.concat([Buffer.from('small member '.repeat(40)), crypto.randomBytes(300)]));
      await survivesTruncations(
        spec.reader,
        full,
        prefixLengths(full.length, full.length),
        () => makeContext(`p${spec.ext}`),
        (list, label) => {
          for (const e of list) expect(e.sha256, label).toMatch(/^error:(truncated|format)$/);
        },
      );
    });

    it('survives 300 single-byte corruptions: a result or a typed error, never a crash or a hang', async () => {
      const plain = Buffer.concat([Buffer.from('corrupt me '.repeat(3000)), crypto.randomBytes(5000)]);
      const good = compress(plain);
      await survivesByteFlips(spec.reader, good, 300, () => makeContext(`c${spec.ext}`), { seed: 12345 });
    });

    it('stops a bomb (256 MiB of zeros) at the ratio limit with bounded output, then decodes again', async () => {
      const zeros = Buffer.alloc(256 * 1024 * 1024);
      const bomb = compress(zeros);
      const t = makeContext(`zeros${spec.ext}`);
      let err: unknown;
      for await (const e of spec.reader.entries(new BufferSource(bomb), t.ctx))
        err = await e.open().then(
          () => undefined,
          (x: unknown) => x,
        );
      const ratio = Math.floor((256 * 1024 * 1024) / bomb.length);
      if (ratio > 1000) {
        expect(err).toBeInstanceOf(LimitError);
        expect((err as LimitError).limit).toBe('maxRatio');
        expect(t.budget.decompressedBytes).toBeLessThan(Math.max(1000 * bomb.length, 1024 * 1024) + 2 * 1024 * 1024);
      }
      // A lowered total stops it anyway, and the decoder is usable afterwards (no leaked lock).
      const low = makeContext(`zeros${spec.ext}`, { maxDecompressedBytes: 8 * 1024 * 1024, maxRatio: 1e9 });
      for await (const e of spec.reader.entries(new BufferSource(bomb), low.ctx))
        err = await e.open().then(
          () => undefined,
          (x: unknown) => x,
        );
      expect((err as LimitError).limit).toBe('maxDecompressedBytes');
      expect(low.budget.decompressedBytes).toBeLessThan(10 * 1024 * 1024);
      const again = makeContext('again');
      const list = await listEntries(spec.reader, openFile(modelFile), again);
      expect(list[0]?.sha256).toBe(sha256Bytes(model));
      t.cleanup();
      low.cleanup();
      again.cleanup();
    }, 120_000);

    it('spills a large member to the temp file under a small memory budget and deletes it on release', async () => {
      const big = crypto.randomBytes(10 * 1024 * 1024);
      const t = makeContext(`big${spec.ext}`, { memoryBudget: 1024 * 1024 });
      const entries = [];
      for await (const e of spec.reader.entries(new BufferSource(compress(big)), t.ctx)) entries.push(e);
      const src = await entries[0]!.open();
      expect(t.temp.openFiles).toBe(1);
      expect(sha256Source(src)).toBe(sha256Bytes(big));
      expect(src.sha256).toBe(sha256Bytes(big));
      t.budget.release(src);
      expect(isReleased(src)).toBe(true);
      expect(t.temp.openFiles).toBe(0);
      expect(fs.readdirSync(t.temp.path as string)).toEqual([]);
      t.cleanup();
    });

    extra?.({ dir: () => tmp.dir, compress });
  });
}
