package annotations

import "strconv"

// Status is the progress and outcome of a claim's work, as annotations.
type Status struct {
	Phase    string
	Progress string
	Restarts int32
	Reason   string
	Message  string
	// Ready is the PodReady annotation ("true", "false" or "").
	Ready string
	// CloneOf is the CloneOf annotation ("true" once a clone succeeded).
	CloneOf string
}

// StatusOf reads the status annotations of a claim.
func StatusOf(ann map[string]string) Status {
	restarts, _ := strconv.ParseInt(ann[PodRestarts], 10, 32)
	return Status{
		Phase:    ann[PodPhase],
		Progress: ann[Progress],
		Restarts: int32(restarts),
		Reason:   ann[Reason],
		Message:  ann[Message],
		Ready:    ann[PodReady],
		CloneOf:  ann[CloneOf],
	}
}

// Final reports whether the phase is an end state (Succeeded or Failed).
func Final(phase string) bool {
	return phase == PhaseSucceeded || phase == PhaseFailed
}

// Annotations returns the status as annotations; empty fields are left out.
func (s Status) Annotations() map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set(PodPhase, s.Phase)
	set(Progress, s.Progress)
	set(Reason, s.Reason)
	set(Message, s.Message)
	set(PodReady, s.Ready)
	set(CloneOf, s.CloneOf)
	if s.Restarts > 0 {
		out[PodRestarts] = strconv.Itoa(int(s.Restarts))
	}
	return out
}
