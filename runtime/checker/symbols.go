package checker

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kcfm-linux/kcfm/internal/model"
)

// symbolKey identifies a function symbol: its name and, for local (static)
// symbols, the base name of its source file.
type symbolKey struct{ name, file string }

// bySymbol indexes the signature's functions by symbol. C++ constructor and
// destructor symbols come in several variants (C1/C2, D0/D1/D2) of which
// the analysis records one; all variants map to the same function.
func (m *Model) indexSymbols() map[symbolKey]int32 {
	idx := map[symbolKey]int32{}
	for i, f := range m.Sig.Functions {
		if f.Symbol == "" {
			continue
		}
		file := ""
		if f.Flags&model.FnStatic != 0 {
			file = filepath.Base(f.File)
		}
		for _, v := range symbolVariants(f.Symbol) {
			k := symbolKey{v, file}
			if _, dup := idx[k]; !dup {
				idx[k] = int32(i)
			}
		}
	}
	return idx
}

func symbolVariants(sym string) []string {
	out := []string{sym}
	if !strings.HasPrefix(sym, "_Z") {
		return out
	}
	for _, grp := range [][]string{{"C1E", "C2E", "C3E"}, {"D0E", "D1E", "D2E"}} {
		for _, v := range grp {
			if strings.Contains(sym, v) {
				for _, w := range grp {
					if w != v {
						out = append(out, strings.Replace(sym, v, w, 1))
					}
				}
				return out
			}
		}
	}
	return out
}

// FunctionBySymbol returns the function id of a symbol (file: the source
// file base name for local symbols, "" for global ones), or Unknown.
func (m *Model) FunctionBySymbol(name, file string) int32 {
	m.symOnce.Do(func() {
		m.symIdx = m.indexSymbols()
		m.staticByName = map[string]int32{}
		for i, f := range m.Sig.Functions {
			if f.Flags&model.FnStatic == 0 || f.Symbol == "" {
				continue
			}
			if _, dup := m.staticByName[f.Symbol]; dup {
				m.staticByName[f.Symbol] = -1 // ambiguous
			} else {
				m.staticByName[f.Symbol] = int32(i)
			}
		}
	})
	if id, ok := m.symIdx[symbolKey{name, file}]; ok {
		return id
	}
	if file != "" {
		// A static function defined in a header (a static inline): its
		// symbol is local to the including TU's file, not to the header.
		// Unambiguous by name only if one static function has the name.
		if id, ok := m.staticByName[name]; ok && id >= 0 {
			return id
		}
	}
	return Unknown
}

// elfSym is a function symbol of a module.
type elfSym struct {
	addr, size uint64
	name, file string
}

// Module is the function-symbol table of one ELF file.
type Module struct {
	Path  string
	isDyn bool
	loads []elf.ProgHeader
	syms  []elfSym // sorted by addr
}

var moduleCache sync.Map // path+inode -> *Module

// LoadModule reads the function symbols of an ELF file (.symtab, or
// .dynsym when the file is stripped).
func LoadModule(path string) (*Module, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mod := &Module{Path: path, isDyn: f.Type == elf.ET_DYN}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			mod.loads = append(mod.loads, p.ProgHeader)
		}
	}
	syms, err := f.Symbols()
	if err != nil || len(syms) == 0 {
		syms, err = f.DynamicSymbols()
		if err != nil {
			return nil, fmt.Errorf("%s: no symbol table: %v", path, err)
		}
	}
	file := ""
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if typ == elf.STT_FILE {
			file = filepath.Base(s.Name)
			continue
		}
		if typ != elf.STT_FUNC || s.Value == 0 {
			continue
		}
		name := s.Name
		if i := strings.IndexByte(name, '@'); i > 0 {
			name = name[:i]
		}
		es := elfSym{addr: s.Value, size: s.Size, name: name}
		if elf.ST_BIND(s.Info) == elf.STB_LOCAL {
			es.file = file
		}
		mod.syms = append(mod.syms, es)
	}
	sort.Slice(mod.syms, func(i, j int) bool { return mod.syms[i].addr < mod.syms[j].addr })
	return mod, nil
}

// lookup finds the symbol containing the (unbiased) address.
func (m *Module) lookup(addr uint64) *elfSym {
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].addr > addr }) - 1
	if i < 0 {
		return nil
	}
	s := &m.syms[i]
	if addr == s.addr || addr < s.addr+s.size {
		return s
	}
	return nil
}

type mapping struct {
	start, end, offset uint64
	mod                *Module
	bias               uint64
}

// Symbolizer maps code addresses of a running process to functions of the
// signature, through /proc/PID/maps and the ELF symbol tables of the
// mapped files.
type Symbolizer struct {
	m        *Model
	pid      int
	maps     []mapping
	cache    map[uint64]int32
	names    map[uint64]symbolKey
	reloaded int
	fast     [fastSize]fastEntry
}

// NewSymbolizer prepares address lookups for process pid.
func (m *Model) NewSymbolizer(pid int) *Symbolizer {
	return &Symbolizer{m: m, pid: pid, cache: map[uint64]int32{}, names: map[uint64]symbolKey{}}
}

// maxReloads bounds how often an unknown address re-reads the maps.
const maxReloads = 64

func (s *Symbolizer) reload() error {
	s.reloaded++
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", s.pid))
	if err != nil {
		return err
	}
	defer f.Close()
	var maps []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.Contains(fields[1], "x") || !strings.HasPrefix(fields[5], "/") {
			continue
		}
		se := strings.SplitN(fields[0], "-", 2)
		start, err1 := strconv.ParseUint(se[0], 16, 64)
		end, err2 := strconv.ParseUint(se[1], 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		path := strings.Join(fields[5:], " ")
		key := path + "#" + fields[4]
		var mod *Module
		if v, ok := moduleCache.Load(key); ok {
			mod = v.(*Module)
		} else {
			mod, err = LoadModule(path)
			if err != nil {
				continue // not an ELF we can read (e.g. deleted file)
			}
			moduleCache.Store(key, mod)
		}
		mp := mapping{start: start, end: end, offset: off, mod: mod}
		if mod.isDyn {
			for _, p := range mod.loads {
				if off >= p.Off&^(p.Align-1) && off < p.Off+p.Filesz {
					mp.bias = start - (p.Vaddr - (p.Off - off))
					break
				}
			}
		}
		maps = append(maps, mp)
	}
	s.maps = maps
	return sc.Err()
}

// Lookup returns the function id for a code address, or Unknown.
func (s *Symbolizer) Lookup(addr uint64) int32 {
	// A small direct-mapped cache in front of the map: function events
	// repeat the same few addresses.
	slot := &s.fast[(addr>>4)&(fastSize-1)]
	if slot.addr == addr && addr != 0 {
		return slot.id
	}
	id := s.lookupSlow(addr)
	slot.addr, slot.id = addr, id
	return id
}

const fastSize = 512

type fastEntry struct {
	addr uint64
	id   int32
}

func (s *Symbolizer) lookupSlow(addr uint64) int32 {
	if id, ok := s.cache[addr]; ok {
		return id
	}
	key, ok := s.resolve(addr)
	id := Unknown
	if ok {
		id = s.m.FunctionBySymbol(key.name, key.file)
	}
	s.cache[addr] = id
	return id
}

// Name returns the symbol and source-file base name of an address.
func (s *Symbolizer) Name(addr uint64) (name, file string, ok bool) {
	k, ok := s.resolve(addr)
	return k.name, k.file, ok
}

func (s *Symbolizer) resolve(addr uint64) (symbolKey, bool) {
	if k, ok := s.names[addr]; ok {
		return k, true
	}
	for attempt := 0; attempt < 2; attempt++ {
		for _, mp := range s.maps {
			if addr >= mp.start && addr < mp.end {
				if sym := mp.mod.lookup(addr - mp.bias); sym != nil {
					k := symbolKey{sym.name, sym.file}
					s.names[addr] = k
					return k, true
				}
				return symbolKey{}, false
			}
		}
		if s.reloaded >= maxReloads || s.reload() != nil {
			break
		}
	}
	return symbolKey{}, false
}

// NewNameResolver returns a symbolizer that only resolves names (Name);
// Lookup must not be called on it.
func NewNameResolver(pid int) *Symbolizer {
	return &Symbolizer{pid: pid, cache: map[uint64]int32{}, names: map[uint64]symbolKey{}}
}
