package snap

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSaveMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, c := range Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	count := func() uint64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "arbor_snap_save_duration_seconds" {
				return mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		t.Fatal("arbor_snap_save_duration_seconds not gathered")
		return 0
	}
	before := count()
	mustSave(t, t.TempDir(), 1, 1, 1, 1)
	if got := count(); got != before+1 {
		t.Fatalf("one Save observed %d times", got-before)
	}
}
