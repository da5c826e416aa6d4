package snap

import "testing"

func TestSaveMetric(t *testing.T) {
	count := func() uint64 { c, _, _ := SaveDuration.Read(); return c }
	before := count()
	mustSave(t, t.TempDir(), 1, 1, 1, 1)
	if got := count(); got != before+1 {
		t.Fatalf("one Save observed %d times", got-before)
	}
}
