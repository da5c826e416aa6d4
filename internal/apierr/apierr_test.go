package apierr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

func TestWireFormat(t *testing.T) {
	b, err := json.Marshal(New(KeyNotFound, "/_etcd", 15832))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"errorCode":100,"message":"Key not found","cause":"/_etcd","index":15832}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if got := New(KeyNotFound, "/_etcd", 15832).Error(); got != "100: Key not found (/_etcd) [15832]" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestEveryCodeHasMessageAndStatus(t *testing.T) {
	status := map[Code]int{KeyNotFound: 404, NotFile: 403, DirNotEmpty: 403, TestFailed: 412,
		NodeExist: 412, RaftInternal: 500, LeaderElect: 500, Unauthorized: 401, TTLNaN: 400, EventIndexClear: 400}
	for c := range messages {
		if c.Message() == "" {
			t.Errorf("code %d has no message", c)
		}
		want, ok := status[c]
		if !ok {
			want = http.StatusBadRequest
		}
		if got := New(c, "", 0).StatusCode(); got != want {
			t.Errorf("code %d: status %d, want %d", c, got, want)
		}
	}
}

func TestIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", New(NodeExist, "/a", 3))
	if !Is(err, NodeExist) || Is(err, KeyNotFound) {
		t.Fatal("Is does not see through wrapping")
	}
}
