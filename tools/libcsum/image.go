package libcsum

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/kcfm-linux/kcfm/internal/sysnum"
)

// Bounds on input files: a libc is a few MB; anything much larger is not one.
const (
	maxImageSize   = 64 << 20
	maxDynSyms     = 200000
	maxRelocations = 2000000
)

// symbol is one exported (dynamic) function symbol of the library.
type symbol struct {
	name    string // without version
	version string // "GLIBC_2.2.5" or ""
	def     bool   // default version (@@) or unversioned
	value   uint64
	size    uint64
	ifunc   bool
}

// image is the parsed libc: its executable bytes, exported functions,
// relocations and unwind ranges.
type image struct {
	path    string
	arch    sysnum.Arch
	f       *elf.File
	text    []span // executable ranges (from PT_LOAD with PF_X, restricted to SHF_EXECINSTR sections)
	syms    []symbol
	buildID string
	soname  string
	libc    string // glibc | musl
	version string

	// relocations by target address (slot): what the loader writes there
	relocs map[uint64]reloc
	// code addresses stored in data by relocations (RELATIVE, or symbolic to a FUNC defined here)
	dataCodePtrs []uint64
	// IRELATIVE resolvers (addend) and IFUNC symbol values
	ifuncResolvers map[uint64]bool
	// unwind (FDE) ranges
	fdes []span
	// FDE end address -> the least start of an FDE range ending there
	fdeEnd map[uint64]uint64
	// sections by name used for special handling
	ioVtables      span
	ioVtablesAlign uint64
	relro          span // PT_GNU_RELRO: read-only after relocation

	secData map[*elf.Section][]byte
}

type span struct{ lo, hi uint64 }

func (s span) has(a uint64) bool { return a >= s.lo && a < s.hi }

type relocKind uint8

const (
	relRelative  relocKind = iota // value = base + addend
	relSymbol                     // value = symbol (+addend)
	relIRelative                  // value = resolver(addend)()
)

type reloc struct {
	kind   relocKind
	sym    string // for relSymbol: symbol name (external or defined here)
	value  uint64 // resolved address when known (relRelative: addend; relSymbol: symbol value if defined here; relIRelative: resolver)
	known  bool   // value is a defined address inside this library
	isFunc bool   // relSymbol: symbol is a function (FUNC/IFUNC) or undefined
	ifunc  bool   // relSymbol to an IFUNC symbol defined here
}

// openImage reads and validates the ELF file.
func openImage(path string, want sysnum.Arch) (*image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxImageSize {
		return nil, fmt.Errorf("%s: %d bytes: larger than any libc (limit %d)", path, st.Size(), maxImageSize)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 4 || !bytes.Equal(raw[:4], []byte(elf.ELFMAG)) {
		return nil, fmt.Errorf("%s: not an ELF file", path)
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: bad ELF file: %w", path, err)
	}
	var arch sysnum.Arch
	switch {
	case f.Class == elf.ELFCLASS64 && f.Machine == elf.EM_X86_64:
		arch = sysnum.X86_64
	case f.Class == elf.ELFCLASS64 && f.Machine == elf.EM_AARCH64:
		arch = sysnum.AArch64
	default:
		return nil, fmt.Errorf("%s: unsupported ELF machine %v (%v): expected x86_64 or aarch64", path, f.Machine, f.Class)
	}
	if want != "" && arch != want {
		return nil, fmt.Errorf("%s: is an %s library, but --arch %s was requested", path, arch, want)
	}
	if f.Data != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("%s: big-endian ELF not supported", path)
	}
	if f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%s: ELF type %v: expected a shared library (ET_DYN)", path, f.Type)
	}
	im := &image{path: path, arch: arch, f: f, relocs: map[uint64]reloc{}, secData: map[*elf.Section][]byte{}, ifuncResolvers: map[uint64]bool{}}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_EXECINSTR != 0 && s.Size > 0 {
			im.text = append(im.text, span{s.Addr, s.Addr + s.Size})
		}
		if s.Name == "__libc_IO_vtables" {
			im.ioVtables = span{s.Addr, s.Addr + s.Size}
			im.ioVtablesAlign = s.Addralign
		}
	}
	if len(im.text) == 0 {
		return nil, fmt.Errorf("%s: no executable sections (section headers stripped?)", path)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_RELRO {
			im.relro = span{p.Vaddr, p.Vaddr + p.Memsz}
		}
	}
	sort.Slice(im.text, func(i, j int) bool { return im.text[i].lo < im.text[j].lo })
	if err := im.readSymbols(); err != nil {
		return nil, err
	}
	im.readIdentity(raw)
	if err := im.readRelocs(); err != nil {
		return nil, err
	}
	if err := im.readEHFrame(); err != nil {
		return nil, fmt.Errorf("%s: .eh_frame: %w", path, err)
	}
	return im, nil
}

func (im *image) isCode(a uint64) bool {
	for _, s := range im.text {
		if s.has(a) {
			return true
		}
	}
	return false
}

// bytesAt returns the file bytes of the loaded image at virtual address a
// (up to n bytes, clipped to the containing section).
func (im *image) bytesAt(a uint64, n int) []byte {
	for _, s := range im.f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		if a >= s.Addr && a < s.Addr+s.Size {
			d, err := im.sectionData(s)
			if err != nil {
				return nil
			}
			o := int(a - s.Addr)
			e := o + n
			if e > len(d) {
				e = len(d)
			}
			return d[o:e]
		}
	}
	return nil
}

func (im *image) sectionData(s *elf.Section) ([]byte, error) {
	if d, ok := im.secData[s]; ok {
		return d, nil
	}
	d, err := s.Data()
	if err != nil {
		return nil, err
	}
	im.secData[s] = d
	return d, nil
}

func (im *image) readSymbols() error {
	syms, err := im.f.DynamicSymbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return fmt.Errorf("%s: stripped: no dynamic symbol table (.dynsym), cannot name exported functions", im.path)
		}
		return fmt.Errorf("%s: reading .dynsym: %w", im.path, err)
	}
	if len(syms) > maxDynSyms {
		return fmt.Errorf("%s: %d dynamic symbols (limit %d)", im.path, len(syms), maxDynSyms)
	}
	for _, s := range syms {
		t := elf.ST_TYPE(s.Info)
		if s.Section == elf.SHN_UNDEF || (t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC) {
			continue
		}
		b := elf.ST_BIND(s.Info)
		if b != elf.STB_GLOBAL && b != elf.STB_WEAK {
			continue
		}
		if s.Name == "" || len(s.Name) > 512 {
			continue
		}
		// debug/elf reports versions as Version/VersionIndex (Go 1.24+).
		ver := s.Version
		def := !s.VersionIndex.IsHidden()
		im.syms = append(im.syms, symbol{name: s.Name, version: ver, def: def, value: s.Value, size: s.Size, ifunc: t == elf.STT_GNU_IFUNC})
		if t == elf.STT_GNU_IFUNC {
			im.ifuncResolvers[s.Value] = true
		}
	}
	if len(im.syms) == 0 {
		return fmt.Errorf("%s: stripped: no exported function symbols in .dynsym", im.path)
	}
	return nil
}

var (
	glibcVersionRE = regexp.MustCompile(`GNU C Library \([^)]*\) [a-z ]*release version ([0-9]+\.[0-9]+(\.[0-9]+)?)`)
	muslVersionRE  = regexp.MustCompile(`\x00(1\.[0-9]+\.[0-9]+)\x00`)
)

func (im *image) readIdentity(raw []byte) {
	if s := im.f.Section(".note.gnu.build-id"); s != nil {
		if d, err := s.Data(); err == nil && len(d) >= 16 {
			namesz := binary.LittleEndian.Uint32(d[0:])
			descsz := binary.LittleEndian.Uint32(d[4:])
			off := 12 + (int(namesz)+3)&^3
			if typ := binary.LittleEndian.Uint32(d[8:]); typ == 3 && off+int(descsz) <= len(d) && descsz <= 64 {
				im.buildID = hex.EncodeToString(d[off : off+int(descsz)])
			}
		}
	}
	if libs, err := im.f.DynString(elf.DT_SONAME); err == nil && len(libs) > 0 {
		im.soname = libs[0]
	}
	ro := raw
	if s := im.f.Section(".rodata"); s != nil {
		if d, err := s.Data(); err == nil {
			ro = d
		}
	}
	if m := glibcVersionRE.FindSubmatch(ro); m != nil {
		im.libc, im.version = "glibc", string(m[1])
		return
	}
	if bytes.Contains(ro, []byte("musl libc (")) {
		im.libc = "musl"
		if m := muslVersionRE.FindSubmatch(ro); m != nil {
			im.version = string(m[1])
		}
		if im.soname == "" {
			im.soname = "libc.so" // musl sets no DT_SONAME; programs record DT_NEEDED libc.so
		}
		return
	}
	for _, s := range im.syms {
		if strings.HasPrefix(s.version, "GLIBC_") {
			im.libc = "glibc"
			return
		}
	}
}

func (im *image) readRelocs() error {
	syms, _ := im.f.DynamicSymbols()
	for _, s := range im.f.Sections {
		if s.Type != elf.SHT_RELA {
			continue
		}
		d, err := s.Data()
		if err != nil {
			return fmt.Errorf("%s: section %s: %w", im.path, s.Name, err)
		}
		if len(d)%24 != 0 || len(d)/24 > maxRelocations {
			return fmt.Errorf("%s: section %s: bad size %d", im.path, s.Name, len(d))
		}
		for o := 0; o+24 <= len(d); o += 24 {
			off := binary.LittleEndian.Uint64(d[o:])
			info := binary.LittleEndian.Uint64(d[o+8:])
			add := int64(binary.LittleEndian.Uint64(d[o+16:]))
			typ, si := uint32(info), int(info>>32)
			var r reloc
			switch im.arch {
			case sysnum.X86_64:
				switch elf.R_X86_64(typ) {
				case elf.R_X86_64_RELATIVE:
					r = reloc{kind: relRelative, value: uint64(add), known: true}
				case elf.R_X86_64_IRELATIVE:
					r = reloc{kind: relIRelative, value: uint64(add), known: true}
				case elf.R_X86_64_64, elf.R_X86_64_GLOB_DAT, elf.R_X86_64_JMP_SLOT:
					r = reloc{kind: relSymbol}
				default:
					continue
				}
			case sysnum.AArch64:
				switch elf.R_AARCH64(typ) {
				case elf.R_AARCH64_RELATIVE:
					r = reloc{kind: relRelative, value: uint64(add), known: true}
				case elf.R_AARCH64_IRELATIVE:
					r = reloc{kind: relIRelative, value: uint64(add), known: true}
				case elf.R_AARCH64_ABS64, elf.R_AARCH64_GLOB_DAT, elf.R_AARCH64_JUMP_SLOT:
					r = reloc{kind: relSymbol}
				default:
					continue
				}
			}
			if r.kind == relSymbol {
				if si <= 0 || si > len(syms) {
					continue
				}
				sy := syms[si-1]
				t := elf.ST_TYPE(sy.Info)
				r.sym = sy.Name
				r.isFunc = t == elf.STT_FUNC || t == elf.STT_GNU_IFUNC || (sy.Section == elf.SHN_UNDEF && t == elf.STT_NOTYPE)
				if sy.Section != elf.SHN_UNDEF && sy.Section < elf.SHN_LORESERVE {
					r.value, r.known = sy.Value+uint64(add), true
					r.ifunc = t == elf.STT_GNU_IFUNC
				}
			}
			if r.kind == relIRelative {
				im.ifuncResolvers[r.value] = true
			}
			im.relocs[off] = r
			if r.known && im.isCode(r.value) && (r.kind == relRelative || (r.kind == relSymbol && !r.ifunc)) {
				im.dataCodePtrs = append(im.dataCodePtrs, r.value)
			}
		}
	}
	if err := im.readRELR(); err != nil {
		return err
	}
	sort.Slice(im.dataCodePtrs, func(i, j int) bool { return im.dataCodePtrs[i] < im.dataCodePtrs[j] })
	return nil
}

// shtRELR is SHT_RELR (not named by debug/elf).
const shtRELR = elf.SectionType(19)

// readRELR decodes SHT_RELR (DT_RELR) relative relocations: the addend is
// the 8-byte word already stored at the relocated address.
func (im *image) readRELR() error {
	for _, s := range im.f.Sections {
		if s.Type != shtRELR {
			continue
		}
		d, err := s.Data()
		if err != nil {
			return fmt.Errorf("%s: section %s: %w", im.path, s.Name, err)
		}
		if len(d)%8 != 0 || len(d)/8 > maxRelocations {
			return fmt.Errorf("%s: section %s: bad size %d", im.path, s.Name, len(d))
		}
		var where uint64
		add := func(slot uint64) error {
			if len(im.relocs) > maxRelocations {
				return fmt.Errorf("%s: more than %d relocations", im.path, maxRelocations)
			}
			b := im.bytesAt(slot, 8)
			if len(b) < 8 {
				return nil // slot in .bss or outside the file: no static value
			}
			v := binary.LittleEndian.Uint64(b)
			im.relocs[slot] = reloc{kind: relRelative, value: v, known: true}
			if im.isCode(v) {
				im.dataCodePtrs = append(im.dataCodePtrs, v)
			}
			return nil
		}
		for o := 0; o+8 <= len(d); o += 8 {
			e := binary.LittleEndian.Uint64(d[o:])
			if e&1 == 0 {
				if err := add(e); err != nil {
					return err
				}
				where = e + 8
				continue
			}
			for i := 0; i < 63; i++ {
				if e>>(uint(i)+1)&1 != 0 {
					if err := add(where + uint64(i)*8); err != nil {
						return err
					}
				}
			}
			where += 63 * 8
		}
	}
	return nil
}

// readEHFrame collects the [pc_begin, pc_begin+pc_range) of every FDE.
func (im *image) readEHFrame() error {
	s := im.f.Section(".eh_frame")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil
	}
	d, err := s.Data()
	if err != nil {
		return err
	}
	fdes, err := parseEHFrame(d, s.Addr)
	if err != nil {
		return err
	}
	for _, r := range fdes {
		if r.hi > r.lo && im.isCode(r.lo) {
			im.fdes = append(im.fdes, r)
		}
	}
	sort.Slice(im.fdes, func(i, j int) bool { return im.fdes[i].lo < im.fdes[j].lo })
	im.fdeEnd = make(map[uint64]uint64, len(im.fdes))
	for _, f := range im.fdes {
		if lo, ok := im.fdeEnd[f.hi]; !ok || f.lo < lo {
			im.fdeEnd[f.hi] = f.lo
		}
	}
	return nil
}

// parseEHFrame parses .eh_frame (located at addr) and returns the code
// range of every FDE. Only the parts needed for the ranges are decoded:
// the CIE augmentation gives the pointer encoding of the FDE addresses.
func parseEHFrame(d []byte, addr uint64) ([]span, error) {
	encOf := map[int]byte{} // CIE offset -> FDE pointer encoding
	var out []span
	for off := 0; off+4 <= len(d); {
		length := uint64(binary.LittleEndian.Uint32(d[off:]))
		hdr := 4
		if length == 0 {
			break // terminator
		}
		if length == 0xffffffff {
			if off+12 > len(d) {
				return nil, fmt.Errorf("offset %#x: truncated 64-bit length", off)
			}
			length = binary.LittleEndian.Uint64(d[off+4:])
			hdr = 12
		}
		start := off + hdr
		end := uint64(start) + length
		if end > uint64(len(d)) || length < 4 {
			return nil, fmt.Errorf("offset %#x: record length %d out of bounds", off, length)
		}
		rec := d[start:end]
		id := binary.LittleEndian.Uint32(rec)
		if id == 0 { // CIE
			enc, err := parseCIE(rec[4:])
			if err != nil {
				return nil, fmt.Errorf("CIE at %#x: %w", off, err)
			}
			encOf[off] = enc
		} else { // FDE: id is the offset back to its CIE from this field
			cie := start - int(id)
			enc, ok := encOf[cie]
			if !ok {
				return nil, fmt.Errorf("FDE at %#x: CIE at %#x not found", off, cie)
			}
			p := rec[4:]
			fieldAddr := addr + uint64(start) + 4
			begin, n, err := readEncoded(p, enc, fieldAddr)
			if err != nil {
				return nil, fmt.Errorf("FDE at %#x: %w", off, err)
			}
			rng, _, err := readEncoded(p[n:], enc&0x0f, 0)
			if err != nil {
				return nil, fmt.Errorf("FDE at %#x: %w", off, err)
			}
			out = append(out, span{begin, begin + rng})
		}
		off = int(end)
	}
	return out, nil
}

func parseCIE(p []byte) (byte, error) {
	if len(p) < 2 {
		return 0, io.ErrUnexpectedEOF
	}
	version := p[0]
	i := bytes.IndexByte(p[1:], 0)
	if i < 0 {
		return 0, fmt.Errorf("unterminated augmentation")
	}
	aug := string(p[1 : 1+i])
	q := p[2+i:]
	var n int
	if strings.Contains(aug, "eh") {
		q = q[8:]
	}
	if _, n = uleb(q); n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	q = q[n:]
	if _, n = sleb(q); n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	q = q[n:]
	if version == 1 {
		if len(q) < 1 {
			return 0, io.ErrUnexpectedEOF
		}
		q = q[1:]
	} else if _, n = uleb(q); n == 0 {
		return 0, io.ErrUnexpectedEOF
	} else {
		q = q[n:]
	}
	enc := byte(0) // DW_EH_PE_absptr
	if !strings.HasPrefix(aug, "z") {
		return enc, nil
	}
	if _, n = uleb(q); n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	q = q[n:]
	for _, c := range aug[1:] {
		switch c {
		case 'R':
			if len(q) < 1 {
				return 0, io.ErrUnexpectedEOF
			}
			enc = q[0]
			q = q[1:]
		case 'L':
			if len(q) < 1 {
				return 0, io.ErrUnexpectedEOF
			}
			q = q[1:]
		case 'P':
			if len(q) < 1 {
				return 0, io.ErrUnexpectedEOF
			}
			pe := q[0]
			_, m, err := readEncoded(q[1:], pe, 0)
			if err != nil {
				return 0, err
			}
			q = q[1+m:]
		case 'S', 'B':
		default:
			return enc, nil // unknown augmentation: R came first in practice
		}
	}
	return enc, nil
}

// readEncoded reads a DW_EH_PE-encoded pointer; pc is the address of the
// field (for pcrel).
func readEncoded(p []byte, enc byte, pc uint64) (uint64, int, error) {
	if enc == 0xff {
		return 0, 0, fmt.Errorf("omitted pointer")
	}
	var v uint64
	var n int
	switch enc & 0x0f {
	case 0x00, 0x04: // absptr, udata8
		if len(p) < 8 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = binary.LittleEndian.Uint64(p), 8
	case 0x0c: // sdata8
		if len(p) < 8 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = binary.LittleEndian.Uint64(p), 8
	case 0x02: // udata2
		if len(p) < 2 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = uint64(binary.LittleEndian.Uint16(p)), 2
	case 0x0a: // sdata2
		if len(p) < 2 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = uint64(int64(int16(binary.LittleEndian.Uint16(p)))), 2
	case 0x03: // udata4
		if len(p) < 4 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = uint64(binary.LittleEndian.Uint32(p)), 4
	case 0x0b: // sdata4
		if len(p) < 4 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = uint64(int64(int32(binary.LittleEndian.Uint32(p)))), 4
	case 0x01:
		u, m := uleb(p)
		if m == 0 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = u, m
	case 0x09:
		s, m := sleb(p)
		if m == 0 {
			return 0, 0, io.ErrUnexpectedEOF
		}
		v, n = uint64(s), m
	default:
		return 0, 0, fmt.Errorf("pointer encoding %#x not supported", enc)
	}
	switch enc & 0x70 {
	case 0x00:
	case 0x10: // pcrel
		v += pc
	default:
		return 0, 0, fmt.Errorf("pointer application %#x not supported", enc&0x70)
	}
	return v, n, nil
}

func uleb(p []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(p) && i < 10; i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

func sleb(p []byte) (int64, int) {
	var v int64
	for i := 0; i < len(p) && i < 10; i++ {
		v |= int64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			if p[i]&0x40 != 0 && i < 9 {
				v |= -1 << (7 * (i + 1))
			}
			return v, i + 1
		}
	}
	return 0, 0
}
