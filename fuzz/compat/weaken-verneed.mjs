// Marks the named symbol-version requirements of an ELF64 little-endian shared object as weak
// (VER_FLG_WEAK), so the dynamic loader no longer refuses the object when the system library
// lacks that version; the symbols themselves come from glibc-compat.cc (see fuzz/setup.sh).
// Usage: node weaken-verneed.mjs FILE VERSION...
import { readFileSync, writeFileSync } from "node:fs";

const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 0x2;

const [file, ...versions] = process.argv.slice(2);
const elf = readFileSync(file);
if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) throw new Error(`${file}: not ELF64 LE`);
const shoff = Number(elf.readBigUInt64LE(0x28));
const shentsize = elf.readUInt16LE(0x3a);
const shnum = elf.readUInt16LE(0x3c);
const section = (i) => {
  const at = shoff + i * shentsize;
  return { type: elf.readUInt32LE(at + 4), offset: Number(elf.readBigUInt64LE(at + 0x18)), link: elf.readUInt32LE(at + 0x28) };
};
const cstring = (at) => elf.toString("latin1", at, elf.indexOf(0, at));

let weakened = 0;
for (let i = 0; i < shnum; i++) {
  const sec = section(i);
  if (sec.type !== SHT_GNU_VERNEED) continue;
  const strtab = section(sec.link).offset;
  for (let need = sec.offset; ; ) {
    const count = elf.readUInt16LE(need + 2);
    for (let aux = need + elf.readUInt32LE(need + 8), n = 0; n < count; n++) {
      if (versions.includes(cstring(strtab + elf.readUInt32LE(aux + 8)))) {
        elf.writeUInt16LE(elf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
        weakened++;
      }
      aux += elf.readUInt32LE(aux + 12);
    }
    const next = elf.readUInt32LE(need + 12);
    if (next === 0) break;
    need += next;
  }
}
writeFileSync(file, elf);
console.log(`${file}: ${weakened} version requirement(s) made weak`);
