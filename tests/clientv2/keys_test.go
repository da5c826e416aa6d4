package clientv2

import (
	"fmt"
	"testing"
	"time"

	etcdclient "go.etcd.io/etcd/client/v2"
)

func TestSetGetDelete(t *testing.T) {
	_, c := startArbor(t)
	kapi := etcdclient.NewKeysAPI(c)
	ctx := testContext(t)

	// Set creates the key (and its parent directory).
	first, err := kapi.Set(ctx, "/svc/location", "10.1.1.20:80", nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Action != "set" || first.Node.Key != "/svc/location" || first.Node.Value != "10.1.1.20:80" || first.PrevNode != nil {
		t.Errorf("first set: %+v node %+v", first, first.Node)
	}
	if first.Node.CreatedIndex == 0 || first.Node.ModifiedIndex != first.Node.CreatedIndex || first.Index != first.Node.ModifiedIndex {
		t.Errorf("first set: index %d, node created %d modified %d", first.Index, first.Node.CreatedIndex, first.Node.ModifiedIndex)
	}
	if first.ClusterID == "" {
		t.Error("no X-Etcd-Cluster-ID on the response")
	}

	// Set again replaces the value and reports the previous node.
	second, err := kapi.Set(ctx, "/svc/location", "10.1.1.21:80", nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Action != "set" || second.Node.Value != "10.1.1.21:80" || second.Node.ModifiedIndex != first.Index+1 {
		t.Errorf("second set: %+v node %+v", second, second.Node)
	}
	if second.PrevNode == nil || second.PrevNode.Value != "10.1.1.20:80" || second.PrevNode.ModifiedIndex != first.Node.ModifiedIndex {
		t.Errorf("second set: prevNode %+v, want the first value", second.PrevNode)
	}

	// Preconditions fail with etcd's codes and leave the key alone.
	_, err = kapi.Set(ctx, "/svc/location", "x", &etcdclient.SetOptions{PrevExist: etcdclient.PrevNoExist})
	if e := wantCode(t, "set prevExist=false on an existing key", err, etcdclient.ErrorCodeNodeExist); e.Cause != "/svc/location" || e.Index != second.Index {
		t.Errorf("key exists: %+v", e)
	}
	_, err = kapi.Set(ctx, "/svc/location", "x", &etcdclient.SetOptions{PrevValue: "10.1.1.20:80"})
	wantCode(t, "set with a stale prevValue", err, etcdclient.ErrorCodeTestFailed)
	swapped, err := kapi.Set(ctx, "/svc/location", "10.1.1.22:80", &etcdclient.SetOptions{PrevIndex: second.Node.ModifiedIndex})
	if err != nil {
		t.Fatal(err)
	}
	if swapped.Action != "compareAndSwap" || swapped.Node.Value != "10.1.1.22:80" {
		t.Errorf("compare and swap: %+v node %+v", swapped, swapped.Node)
	}
	_, err = kapi.Update(ctx, "/svc/missing", "x")
	wantCode(t, "update of a missing key", err, etcdclient.ErrorCodeKeyNotFound)

	// A TTL is reported back with the expiration it implies.
	ttl, err := kapi.Set(ctx, "/svc/session", "alive", &etcdclient.SetOptions{TTL: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if ttl.Node.TTL < 59 || ttl.Node.TTL > 60 || ttl.Node.Expiration == nil || time.Until(*ttl.Node.Expiration) < 55*time.Second {
		t.Errorf("set with ttl 60: ttl %d expiration %v", ttl.Node.TTL, ttl.Node.Expiration)
	}

	// Get reads a key, and a directory recursively in key order.
	got, err := kapi.Get(ctx, "/svc/location", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != "get" || got.Node.Value != "10.1.1.22:80" || got.Node.ModifiedIndex != swapped.Node.ModifiedIndex || got.Index != ttl.Index {
		t.Errorf("get: %+v node %+v", got, got.Node)
	}
	dir, err := kapi.Get(ctx, "/svc", &etcdclient.GetOptions{Recursive: true, Sort: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dir.Node.Dir || len(dir.Node.Nodes) != 2 ||
		dir.Node.Nodes[0].Key != "/svc/location" || dir.Node.Nodes[1].Key != "/svc/session" || dir.Node.Nodes[1].Value != "alive" {
		t.Errorf("get /svc recursive sorted: %+v", dir.Node)
	}
	_, err = kapi.Get(ctx, "/svc/nothing", nil)
	if e := wantCode(t, "get of a missing key", err, etcdclient.ErrorCodeKeyNotFound); e.Cause != "/svc/nothing" || e.Index != ttl.Index {
		t.Errorf("key not found: %+v", e)
	}

	// Delete removes a key and reports what it was; a non-empty directory
	// needs Recursive.
	del, err := kapi.Delete(ctx, "/svc/location", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.Action != "delete" || del.PrevNode == nil || del.PrevNode.Value != "10.1.1.22:80" || del.Node.ModifiedIndex != ttl.Index+1 {
		t.Errorf("delete: %+v node %+v prevNode %+v", del, del.Node, del.PrevNode)
	}
	_, err = kapi.Get(ctx, "/svc/location", nil)
	wantCode(t, "get after delete", err, etcdclient.ErrorCodeKeyNotFound)
	_, err = kapi.Delete(ctx, "/svc", &etcdclient.DeleteOptions{Dir: true})
	wantCode(t, "delete of a non-empty directory", err, etcdclient.ErrorCodeDirNotEmpty)
	_, err = kapi.Delete(ctx, "/svc/session", &etcdclient.DeleteOptions{PrevValue: "dead"})
	wantCode(t, "delete with a wrong prevValue", err, etcdclient.ErrorCodeTestFailed)
	if _, err := kapi.Delete(ctx, "/svc", &etcdclient.DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	_, err = kapi.Get(ctx, "/svc/session", nil)
	wantCode(t, "get after a recursive delete", err, etcdclient.ErrorCodeKeyNotFound)
}

// CreateInOrder makes keys that sort in creation order, whatever the
// values.
func TestCreateInOrder(t *testing.T) {
	_, c := startArbor(t)
	kapi := etcdclient.NewKeysAPI(c)
	ctx := testContext(t)

	values := []string{"job-c", "job-a", "job-b"}
	var created []*etcdclient.Response
	for _, v := range values {
		resp, err := kapi.CreateInOrder(ctx, "/queue", v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Action != "create" || resp.Node.Value != v {
			t.Errorf("create in order %q: %+v node %+v", v, resp, resp.Node)
		}
		// etcd names the key after the index it was created at, padded to
		// 20 digits.
		if want := fmt.Sprintf("/queue/%020d", resp.Node.CreatedIndex); resp.Node.Key != want {
			t.Errorf("create in order %q: key %q, want %q", v, resp.Node.Key, want)
		}
		created = append(created, resp)
	}
	list, err := kapi.Get(ctx, "/queue", &etcdclient.GetOptions{Recursive: true, Sort: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Node.Nodes) != len(values) {
		t.Fatalf("get /queue: %d nodes, want %d", len(list.Node.Nodes), len(values))
	}
	for i, n := range list.Node.Nodes {
		if n.Key != created[i].Node.Key || n.Value != values[i] {
			t.Errorf("queue[%d] = %s=%q, want %s=%q", i, n.Key, n.Value, created[i].Node.Key, values[i])
		}
	}

	// With a TTL, the in-order key expires like any other.
	withTTL, err := kapi.CreateInOrder(ctx, "/queue", "job-d", &etcdclient.CreateInOrderOptions{TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if withTTL.Node.TTL < 29 || withTTL.Node.TTL > 30 || withTTL.Node.Expiration == nil {
		t.Errorf("create in order with ttl 30: %+v", withTTL.Node)
	}
}
