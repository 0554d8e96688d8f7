// Package progress carries the progress of a data transfer from the code
// that moves bytes to whoever reports it (a terminal today, CloudEvents in a
// data pod).
package progress

// Phase names a stage of a transfer.
type Phase string

// The phases a transfer goes through.
const (
	PhaseConnecting Phase = "Connecting"
	PhaseSpooling   Phase = "Spooling"
	PhaseConverting Phase = "Converting"
	PhaseWriting    Phase = "Writing"
	PhaseDone       Phase = "Done"
)

// Update is one progress observation.
type Update struct {
	Phase Phase
	// Done is the number of bytes processed so far.
	Done int64
	// Total is the number of bytes expected, or -1 when unknown.
	Total int64
}

// Reporter receives progress updates. Implementations must be cheap and
// safe for concurrent use: Report is called from the data path.
type Reporter interface {
	Report(Update)
}

// Discard is a Reporter that drops every update.
type Discard struct{}

// Report implements Reporter.
func (Discard) Report(Update) {}
