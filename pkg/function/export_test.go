package function

import "time"

// SetDrainWait replaces how s waits out its drain, for tests.
func SetDrainWait(s *Server, wait func(time.Duration)) { s.drainWait = wait }
