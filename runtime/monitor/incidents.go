package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IncidentVersion is the version of incident records ("Format: incident v1").
const IncidentVersion = 1

// Incident record types.
const (
	IncidentAnomaly     = "anomaly"      // FlowChecker found an anomaly
	IncidentRestart     = "restart"      // the program is restarted
	IncidentGiveUp      = "giveup"       // no restart left: FlowMonitor ends
	IncidentCrash       = "crash"        // the program died of a signal or exited non-zero
	IncidentCheckerLost = "checker-lost" // FlowChecker is gone: the program was killed (fail closed)
	IncidentCheckError  = "check-error"  // FlowChecker could not check the instance (e.g. no signature)
)

// Incident is one line of the incidents file. Fields that do not apply to
// a record type are omitted.
type Incident struct {
	V        int       `json:"v"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Entity   string    `json:"entity"`
	Pid      int       `json:"pid,omitempty"`
	Tid      int       `json:"tid,omitempty"`
	Instance uint64    `json:"instance,omitempty"`
	Action   string    `json:"action,omitempty"`  // anomaly: restart|stop|log-only (what FlowMonitor does)
	Verdict  string    `json:"verdict,omitempty"` // anomaly: kill|allow (what happened to the syscall)
	Syscall  *int      `json:"syscall,omitempty"` // anomaly: number of the held syscall (-1: function event)
	Event    string    `json:"event,omitempty"`
	Expected []string  `json:"expected,omitempty"`
	Stack    []Frame   `json:"stack,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Status   string    `json:"status,omitempty"`   // crash/giveup: how the program ended, e.g. "exit 1", "signal 11"
	Attempt  int       `json:"attempt,omitempty"`  // restart: restarts in the current window, this one included
	DelayMs  *int64    `json:"delay_ms,omitempty"` // restart: back-off waited before starting again
	Restarts *int      `json:"restarts,omitempty"` // giveup: restarts done within the window
	WindowS  *float64  `json:"window_s,omitempty"` // giveup: the crash-loop window (0 = unlimited)
}

// IncidentLog appends incident records as JSON lines. It is safe for
// concurrent use.
type IncidentLog struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	entity string
	now    func() time.Time
}

// OpenIncidentLog opens path for appending ("" or "-" = standard error).
func OpenIncidentLog(path, entity string) (*IncidentLog, error) {
	if path == "" || path == "-" {
		return &IncidentLog{w: os.Stderr, entity: entity, now: time.Now}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("incidents file: %w", err)
	}
	return &IncidentLog{w: f, closer: f, entity: entity, now: time.Now}, nil
}

// NewIncidentLog writes to w.
func NewIncidentLog(w io.Writer, entity string) *IncidentLog {
	return &IncidentLog{w: w, entity: entity, now: time.Now}
}

// Write stamps the record (version, time, entity) and appends it as one line.
func (l *IncidentLog) Write(in Incident) error {
	in.V = IncidentVersion
	in.Time = l.now().UTC()
	in.Entity = l.entity
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(b) // one write per line: O_APPEND keeps lines whole
	return err
}

// Close closes the file (not standard error).
func (l *IncidentLog) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}
