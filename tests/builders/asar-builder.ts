import crypto from 'node:crypto';

/**
 * Writes Electron asar archives as @electron/asar does, for tests: a size pickle (u32 4, u32 header
 * pickle size), the header pickle (u32 payload size, u32 JSON length, the JSON, zero padding to 4
 * bytes), then the file data in the order the files were added, each file's "offset" a decimal string
 * relative to the end of the header. Unpacked files carry `"unpacked": true` and no data; links carry
 * `"link"`. Written from the format's documentation, independently of src/containers/asar.ts.
 *
 *   buildAsar({ 'package.json': asarFile('{}'), lib: { 'a.node': asarFile(bytes, { unpacked: true }) },
 *               'b.js': asarLink('lib/a.js') })
 */
export interface AsarFile {
  readonly kind: 'file';
  readonly data: Uint8Array;
  readonly unpacked?: boolean;
  readonly executable?: boolean;
  readonly integrity?: boolean;
}
export interface AsarLink {
  readonly kind: 'link';
  readonly target: string;
}
export interface AsarTree {
  [name: string]: AsarTree | AsarFile | AsarLink;
}

export function asarFile(data: Uint8Array | string, opts: { unpacked?: boolean; executable?: boolean; integrity?: boolean } = {}): AsarFile {
  return { kind: 'file', data: typeof data === 'string' ? Buffer.from(data) : data, ...opts };
}
export function asarLink(target: string): AsarLink {
  return { kind: 'link', target };
}

function isLeaf(v: AsarTree | AsarFile | AsarLink): v is AsarFile | AsarLink {
  return (v as { kind?: unknown }).kind === 'file' || (v as { kind?: unknown }).kind === 'link';
}

/** The archive bytes for a header JSON text and the data that follows it. */
export function asarBytes(json: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const str = Buffer.from(json, 'utf8');
  const padded = Math.ceil(str.length / 4) * 4;
  const header = Buffer.alloc(8 + padded);
  header.writeUInt32LE(4 + padded, 0); // payload size of the header pickle
  header.writeUInt32LE(str.length, 4);
  str.copy(header, 8);
  const size = Buffer.alloc(8);
  size.writeUInt32LE(4, 0);
  size.writeUInt32LE(header.length, 4);
  return Buffer.concat([size, header, data]);
}

/** An asar archive of `tree`. */
export function buildAsar(tree: AsarTree): Buffer {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const walk = (t: AsarTree): Record<string, unknown> => {
    const files: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(t)) {
      if (!isLeaf(v)) {
        files[name] = { files: walk(v) };
      } else if (v.kind === 'link') {
        files[name] = { link: v.target };
      } else if (v.unpacked === true) {
        files[name] = { size: v.data.length, unpacked: true, ...(v.executable ? { executable: true } : {}) };
      } else {
        const node: Record<string, unknown> = { size: v.data.length, offset: String(offset) };
        if (v.executable) node.executable = true;
        if (v.integrity) {
          node.integrity = {
            algorithm: 'SHA256',
            hash: crypto.createHash('sha256').update(v.data).digest('hex'),
            blockSize: 4 * 1024 * 1024,
            blocks: [crypto.createHash('sha256').update(v.data).digest('hex')],
          };
        }
        files[name] = node;
        blobs.push(v.data);
        offset += v.data.length;
      }
    }
    return files;
  };
  const json = JSON.stringify({ files: walk(tree) });
  return asarBytes(json, Buffer.concat(blobs));
}
