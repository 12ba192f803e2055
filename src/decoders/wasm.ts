import { FormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { checked } from '../io/checked.js';

/**
 * A bounded reader of a WebAssembly module's identifying parts: import and export names (a runtime
 * compiled with Emscripten exports its C API: `_OrtCreateSession`, `_TessBaseAPICreate`), custom
 * section names and ranges (`producers`, `name`), and the file ranges of data segments, where version
 * strings live. Section bodies other than imports and exports are not read, only located.
 * Not handled: the code section, component-model binaries (version 0x0d), names in the `name` section.
 */

export interface WasmInfo {
  imports: { module: string; name: string }[];
  exports: string[];
  customSections: { name: string; offset: number; size: number }[];
  /** File ranges of active and passive data segments. */
  data: { offset: number; size: number }[];
}

export const WASM_LIMITS = { maxSections: 10_000, maxNames: 200_000, maxTableBytes: 16 * 1024 * 1024, maxSegments: 100_000 } as const;

/** '\0asm' then version 1. */
export function isWasm(head: Uint8Array): boolean {
  return head.length >= 8 && head[0] === 0 && head[1] === 0x61 && head[2] === 0x73 && head[3] === 0x6d;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A cursor over one section's bytes; every read is checked against its end. */
class Cur {
  p = 0;
  constructor(
    readonly b: Uint8Array,
    readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.p + n > this.b.length)
      throw new FormatError(`Invalid wasm: the ${this.what} section ends at ${this.b.length} bytes, before a field at ${this.p}.`, 'truncated');
  }
  u8(): number {
    this.need(1);
    return this.b[this.p++]!;
  }
  /** Unsigned LEB128 of at most 32 bits. */
  uleb(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
    throw new FormatError(`Invalid wasm: a LEB128 number in the ${this.what} section is longer than 5 bytes.`);
  }
  /** Skips a signed or unsigned LEB128 of up to 10 bytes. */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.u8() & 0x80) === 0) return;
    throw new FormatError(`Invalid wasm: a LEB128 number in the ${this.what} section is longer than 10 bytes.`);
  }
  name(): string {
    const n = this.uleb();
    this.need(n);
    const s = utf8.decode(this.b.subarray(this.p, this.p + Math.min(n, 1024)));
    this.p += n;
    return s;
  }
  skip(n: number): void {
    this.need(n);
    this.p += n;
  }
}

/** Reads the module's sections; FormatError naming the field for a broken or absurd module. */
export function readWasm(src: ByteSource): WasmInfo {
  const head = src.read(0, 8);
  if (!isWasm(head)) throw new FormatError("Invalid wasm: no '\\0asm' magic at offset 0.");
  const version = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true);
  if (version !== 1) throw new FormatError(`Invalid wasm: version ${version} is not 1.`);
  const info: WasmInfo = { imports: [], exports: [], customSections: [], data: [] };
  let at = 8;
  let count = 0;
  while (at < src.size) {
    if (++count > WASM_LIMITS.maxSections) throw new FormatError(`Invalid wasm: more than ${WASM_LIMITS.maxSections} sections.`);
    // Section header: id byte and a LEB128 size, at most 6 bytes.
    const h = new Cur(src.read(at, Math.min(6, src.size - at)), 'header');
    const id = h.u8();
    const size = checked(h.uleb(), 0, src.size - at - h.p, `Invalid wasm: section ${id} at offset ${at} size`);
    const body = at + h.p;
    if (id === 11 && size > WASM_LIMITS.maxTableBytes) {
      // A data section too large to walk is kept as one range: its strings are still searched, bounded by the caller.
      info.data.push({ offset: body, size });
    } else if (id === 0 || id === 2 || id === 7 || id === 11) {
      // Custom sections are located only; import, export and data sections are walked.
      const readLen = id === 0 ? Math.min(size, 1029) : checked(size, 0, WASM_LIMITS.maxTableBytes, `Invalid wasm: section ${id} size`);
      const c = new Cur(src.read(body, readLen), id === 0 ? 'custom' : id === 2 ? 'import' : id === 7 ? 'export' : 'data');
      if (id === 0) {
        const name = c.name();
        info.customSections.push({ name, offset: body + c.p, size: size - c.p });
      } else if (id === 2) readImports(c, info);
      else if (id === 7) readExports(c, info);
      else readData(c, body, info);
    }
    at = body + size;
  }
  return info;
}

function readImports(c: Cur, info: WasmInfo): void {
  const n = checked(c.uleb(), 0, WASM_LIMITS.maxNames, 'Invalid wasm: import count');
  for (let i = 0; i < n; i++) {
    const module = c.name();
    const name = c.name();
    const kind = c.u8();
    if (kind === 0)
      c.uleb(); // function: type index
    else if (kind === 1 || kind === 2) {
      if (kind === 1) c.u8(); // table: reference type
      const flags = c.u8(); // limits: bit 0 has-max (bit 1 shared, bit 2 memory64)
      c.skipLeb();
      if ((flags & 1) !== 0) c.skipLeb();
    } else if (kind === 3)
      c.skip(2); // global: value type, mutability
    else if (kind === 4) {
      c.u8(); // tag: attribute
      c.uleb();
    } else throw new FormatError(`Invalid wasm: import ${i} has kind ${kind}.`);
    info.imports.push({ module, name });
  }
}

function readExports(c: Cur, info: WasmInfo): void {
  const n = checked(c.uleb(), 0, WASM_LIMITS.maxNames, 'Invalid wasm: export count');
  for (let i = 0; i < n; i++) {
    info.exports.push(c.name());
    c.u8();
    c.uleb();
  }
}

/** Skips a constant expression (`i32.const 1024 end`). */
function skipExpr(c: Cur): void {
  for (let i = 0; i < 64; i++) {
    const op = c.u8();
    if (op === 0x0b) return; // end
    if (op === 0x41 || op === 0x42 || op === 0x23 || op === 0xd2)
      c.skipLeb(); // i32/i64.const, global.get, ref.func
    else if (op === 0x43)
      c.skip(4); // f32.const
    else if (op === 0x44)
      c.skip(8); // f64.const
    else if (op === 0xd0)
      c.u8(); // ref.null t
    else if (op !== 0x6a && op !== 0x6b && op !== 0x6c && op !== 0x7c && op !== 0x7d && op !== 0x7e) {
      throw new FormatError(`Invalid wasm: opcode 0x${op.toString(16)} in a data segment offset expression.`);
    }
  }
  throw new FormatError('Invalid wasm: a data segment offset expression has no end within 64 instructions.');
}

function readData(c: Cur, base: number, info: WasmInfo): void {
  const n = checked(c.uleb(), 0, WASM_LIMITS.maxSegments, 'Invalid wasm: data segment count');
  for (let i = 0; i < n; i++) {
    const flags = c.uleb();
    if (flags === 0) skipExpr(c);
    else if (flags === 2) {
      c.uleb(); // memory index
      skipExpr(c);
    } else if (flags !== 1) throw new FormatError(`Invalid wasm: data segment ${i} has flags ${flags}.`);
    const size = c.uleb();
    const offset = base + c.p;
    c.skip(size);
    info.data.push({ offset, size });
  }
}
