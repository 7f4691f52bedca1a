package messages

import "testing"

func TestStoredResultSubjects(t *testing.T) {
	s := NewSubjects("")
	for got, want := range map[string]string{
		s.StoredResult("t1"):                     "jetrun.results.t1",
		s.AllStoredResults():                     "jetrun.results.*",
		s.Run("t1"):                              "jetrun.runs.t1",
		s.AllRuns():                              "jetrun.runs.*",
		NewSubjects("acme.jr").StoredResult("q"): "acme.jr.results.q",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// A reply prefix under P.results would publish R.result onto another
// task's stored result: "jetrun.results" makes R.result
// "jetrun.results.result", the stored result of task "result".
func TestReplyUnderStoredResultsRefused(t *testing.T) {
	s := NewSubjects("jetrun")
	for reply, ok := range map[string]bool{
		"jetrun.results":        false,
		"jetrun.results.victim": false,
		"jetrun.runs":           false,
		"jetrun.runs.victim":    false,
		"jetrun.resultsx":       true,
	} {
		if err := s.ValidateTask(&Task{ID: "t1", Image: "busybox", Reply: reply}); (err == nil) != ok {
			t.Errorf("reply %q: got %v", reply, err)
		}
	}
}
