package cluster

import (
	"os"
	"testing"
	"time"
)

// BudgetEnv names the environment variable that lengthens the randomized
// fault tests: a Go duration (e.g. 5m) each such test runs its faults
// for, instead of its short default.
const BudgetEnv = "ARBOR_FAULT_TIME"

// FaultBudget is how long a randomized fault test should keep injecting
// faults: $ARBOR_FAULT_TIME if set, else short. A malformed value fails
// the test rather than silently running the short default.
func FaultBudget(t testing.TB, short time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(BudgetEnv)
	if v == "" {
		return short
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive Go duration such as 5m", BudgetEnv, v)
	}
	return d
}
