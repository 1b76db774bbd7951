// Package trace reads and writes recorded event traces (JSON lines): the
// output of `kcfm record` and the input of `kcfm check`. A trace is
// untrusted input: lines are bounded and every event is validated.
package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Format and version of the header line.
const (
	Format  = "kcfm-trace"
	Version = 1
	// MaxLine bounds one line of a trace.
	MaxLine = 64 << 10
)

// Header is the first line of a trace.
type Header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Arch    string `json:"arch"`
	Program string `json:"program,omitempty"`
}

// Event kinds.
const (
	Enter   = "enter"   // a function was entered (Sym, File)
	Exit    = "exit"    // a function returned (Sym, File)
	Syscall = "syscall" // a syscall is about to run (Nr, Name)
	Thread  = "thread"  // a new thread or process (PPid, PTid: its creator)
	Exec    = "exec"    // the process replaced its program (Path)
	Gone    = "gone"    // the thread ended
)

// Event is one line after the header.
type Event struct {
	Ev   string `json:"ev"`
	Pid  int    `json:"pid"`
	Tid  int    `json:"tid"`
	Sym  string `json:"sym,omitempty"`
	File string `json:"file,omitempty"`
	Nr   int    `json:"nr,omitempty"`
	Name string `json:"name,omitempty"`
	PPid int    `json:"ppid,omitempty"`
	PTid int    `json:"ptid,omitempty"`
	Path string `json:"path,omitempty"`
}

// Validate checks one event.
func (e *Event) Validate() error {
	if e.Pid <= 0 || e.Tid <= 0 {
		return fmt.Errorf("pid/tid must be positive (pid %d, tid %d)", e.Pid, e.Tid)
	}
	switch e.Ev {
	case Enter, Exit:
		if e.Sym == "" {
			return fmt.Errorf("%s event without sym", e.Ev)
		}
	case Syscall:
		if e.Nr < 0 || e.Nr > 4095 {
			return fmt.Errorf("syscall number %d out of range", e.Nr)
		}
	case Thread, Gone:
	case Exec:
		if e.Path == "" {
			return fmt.Errorf("exec event without path")
		}
	default:
		return fmt.Errorf("unknown event kind %q", e.Ev)
	}
	return nil
}

// Writer writes a trace.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter writes the header and returns a writer for events.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = Format, Version
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	return &Writer{w: bw, enc: enc}, nil
}

// Write appends one event.
func (w *Writer) Write(e Event) error { return w.enc.Encode(e) }

// Flush flushes buffered events.
func (w *Writer) Flush() error { return w.w.Flush() }

// Reader reads a trace.
type Reader struct {
	sc     *bufio.Scanner
	Header Header
	line   int
}

// NewReader reads and checks the header.
func NewReader(r io.Reader) (*Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLine)
	rd := &Reader{sc: sc}
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("line 1: %v", err)
		}
		return nil, fmt.Errorf("empty trace (want a %s header line)", Format)
	}
	rd.line = 1
	if err := json.Unmarshal(sc.Bytes(), &rd.Header); err != nil {
		return nil, fmt.Errorf("line 1: bad header: %v", err)
	}
	if rd.Header.Format != Format {
		return nil, fmt.Errorf("line 1: not a trace (format %q, want %q)", rd.Header.Format, Format)
	}
	if rd.Header.Version != Version {
		return nil, fmt.Errorf("line 1: unsupported trace version %d (this kcfm reads %d)", rd.Header.Version, Version)
	}
	return rd, nil
}

// Next returns the next event; io.EOF at the end. Errors carry the line.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		r.line++
		if len(r.sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(r.sc.Bytes(), &e); err != nil {
			return e, fmt.Errorf("line %d: %v", r.line, err)
		}
		if err := e.Validate(); err != nil {
			return e, fmt.Errorf("line %d: %v", r.line, err)
		}
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, fmt.Errorf("line %d: %v", r.line+1, err)
	}
	return Event{}, io.EOF
}

// Line is the line number of the last event returned.
func (r *Reader) Line() int { return r.line }
