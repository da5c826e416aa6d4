package cluster

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// newRand returns the randomness a fault test draws its faults from,
// seeded from ARBOR_FAULT_SEED when set (to replay a failure's fault
// schedule; timing still varies) and logged either way.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("ARBOR_FAULT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ARBOR_FAULT_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("fault seed %d (ARBOR_FAULT_SEED replays it)", seed)
	return rand.New(rand.NewPCG(seed, seed>>1|1))
}
