package sandbox

import (
	"encoding/binary"
	"io"
	"os"
)

// elfKind says what an ELF file is to the dynamic loader.
type elfKind int

const (
	notELF     elfKind = iota
	elfLibrary         // a shared object that programs map: a library, a module
	elfProgram         // something that runs: an executable, or a PIE
)

// ELF constants (see elf(5)); debug/elf is not used because it reads the
// section headers and more, and the plan classifies thousands of files.
const (
	etExec    = 2
	etDyn     = 3
	ptDynamic = 2
	ptInterp  = 3
	dtNull    = 0
	dtSoname  = 14
	dtFlags1  = 0x6ffffffb
	df1PIE    = 0x08000000
)

// classifyELF tells programs from libraries. "ld.so FILE" runs any ELF
// file it can map, so everything that is a program must be kept off
// executable mounts. A program is an ET_EXEC file; or an ET_DYN file marked
// PIE (DF_1_PIE, static PIEs included); or an ET_DYN file with an ELF
// interpreter and no soname (a PIE from a linker that does not mark PIEs).
// Shared libraries with an interpreter that can be run for a banner, such as
// libc.so.6, have a soname and stay libraries: programs need them mapped.
func classifyELF(path string) elfKind {
	f, err := os.Open(path)
	if err != nil {
		return notELF
	}
	defer f.Close()
	var h [64]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return notELF
	}
	// Only 64-bit little-endian objects are read here (amd64, arm64): the
	// loader of any other class refuses them anyway.
	if string(h[:4]) != "\x7fELF" || h[4] != 2 || h[5] != 1 {
		return notELF
	}
	le := binary.LittleEndian
	typ := le.Uint16(h[16:])
	switch typ {
	case etExec:
		return elfProgram
	case etDyn:
	default:
		return notELF
	}
	phoff, phentsize, phnum := int64(le.Uint64(h[32:])), int64(le.Uint16(h[54:])), int64(le.Uint16(h[56:]))
	if phentsize < 56 || phnum == 0 || phnum > 256 {
		return elfLibrary
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(ph, phoff); err != nil {
		return elfLibrary
	}
	var interp bool
	var dynOff, dynSize int64
	for i := int64(0); i < phnum; i++ {
		e := ph[i*phentsize:]
		switch le.Uint32(e) {
		case ptInterp:
			interp = true
		case ptDynamic:
			dynOff, dynSize = int64(le.Uint64(e[8:])), int64(le.Uint64(e[32:]))
		}
	}
	var soname, pie bool
	if dynSize > 0 && dynSize < 1<<20 {
		dyn := make([]byte, dynSize)
		if n, _ := f.ReadAt(dyn, dynOff); n > 0 {
			for i := 0; i+16 <= n; i += 16 {
				tag, val := le.Uint64(dyn[i:]), le.Uint64(dyn[i+8:])
				if tag == dtNull {
					break
				}
				switch tag {
				case dtSoname:
					soname = true
				case dtFlags1:
					pie = val&df1PIE != 0
				}
			}
		}
	}
	if pie || (interp && !soname) {
		return elfProgram
	}
	return elfLibrary
}
