package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/arbor-kv/arbor/client"
)

// The examples run against a small in-memory server (fake_test.go) so that
// their output is checked; point Endpoints at a cluster instead.

func Example() {
	srv := newFakeServer()
	defer srv.Close()

	c, err := client.New(client.Config{Endpoints: []string{srv.URL}, Timeout: 2 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if _, err := c.Set(ctx, "/svclocation", "10.1.1.20:80", client.SetOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	resp, err := c.Get(ctx, "/svclocation", client.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Action, resp.Node.Key, resp.Node.Value)
	// Output: get /svclocation 10.1.1.20:80
}

func ExampleError() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})

	_, err := c.Get(context.Background(), "/_etcd", client.GetOptions{})
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeKeyNotFound {
		fmt.Println("not there:", e.Cause)
	}
	fmt.Println(err)
	// Output:
	// not there: /_etcd
	// 100: Key not found (/_etcd) [3]
}

func ExampleClient_Create() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	// Create succeeds only once: a simple lock or a registration.
	for range 2 {
		resp, err := c.Create(ctx, "/example/key", "data")
		if err != nil {
			fmt.Println("create:", err)
			continue
		}
		fmt.Println(resp.Action, resp.Node.Key)
	}
	// Output:
	// create /example/key
	// create: 105: Key already exists (/example/key) [4]
}

func ExampleClient_Get_directory() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()
	c.Set(ctx, "/svc/instance1", "10.1.1.20", client.SetOptions{})
	c.Set(ctx, "/svc/instance2", "10.1.1.21", client.SetOptions{})

	resp, _ := c.Get(ctx, "/svc", client.GetOptions{Sorted: true})
	for _, n := range resp.Node.Nodes {
		fmt.Println(n.Key, "=", n.Value)
	}
	// Output:
	// /svc/instance1 = 10.1.1.20
	// /svc/instance2 = 10.1.1.21
}

func ExampleWatcher_Next() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	start, _ := c.Set(ctx, "/example/hello", "one", client.SetOptions{})
	c.Set(ctx, "/example/hello", "two", client.SetOptions{})
	c.Delete(ctx, "/example/hello", client.DeleteOptions{})

	// Events after start's index, from the server's history: nothing is
	// missed even though they happened before the watch began.
	w := c.Watcher("/example", client.WatcherOptions{AfterIndex: start.Node.ModifiedIndex, Recursive: true})
	for range 2 {
		resp, err := w.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("[%s] %s %q\n", resp.Action, resp.Node.Key, resp.Node.Value)
	}
	// Output:
	// [set] /example/hello "two"
	// [delete] /example/hello ""
}

func ExampleClient_Watch() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start, _ := c.Set(ctx, "/jobs/0", "seed", client.SetOptions{})
	events := c.Watch(ctx, "/jobs", client.WatcherOptions{AfterIndex: start.Node.ModifiedIndex, Recursive: true})
	c.CreateInOrder(ctx, "/jobs", "build", client.CreateInOrderOptions{})
	c.CreateInOrder(ctx, "/jobs", "test", client.CreateInOrderOptions{})
	for range 2 {
		ev := <-events
		if ev.Err != nil {
			fmt.Println(ev.Err)
			return
		}
		fmt.Println(ev.Action, ev.Node.Value)
	}
	// Output:
	// create build
	// create test
}

func ExampleClient_Members() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})

	ms, err := c.Members(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range ms {
		fmt.Println(m.ID, m.Name)
	}
	// Output: 8e9e05c52164694d fake
}

func ExampleConfig_failover() {
	srv := newFakeServer()
	defer srv.Close()
	// A member that is down: nothing listens at its URL any more.
	down := httptest.NewServer(nil)
	down.Close()

	// The first endpoint refuses the connection, so the request goes on
	// to the next one.
	c, _ := client.New(client.Config{Endpoints: []string{down.URL, srv.URL}, Timeout: time.Second})
	resp, err := c.Set(context.Background(), "/svclocation", "10.1.1.20:80", client.SetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Action, resp.Node.Value)

	// When no endpoint answers, the error lists what each one did.
	c, _ = client.New(client.Config{Endpoints: []string{down.URL, down.URL}, Timeout: time.Second})
	_, err = c.Get(context.Background(), "/svclocation", client.GetOptions{})
	var ce *client.ClusterError
	if errors.As(err, &ce) {
		fmt.Println("endpoints that failed:", len(ce.Errors))
	}
	// Output:
	// set 10.1.1.20:80
	// endpoints that failed: 2
}

func ExampleConfig_tls() {
	srv := newFakeServer()
	defer srv.Close()
	secure := httptest.NewTLSServer(srv.Config.Handler)
	defer secure.Close()

	// Trust the server's CA. From a file, that is
	// pool.AppendCertsFromPEM(pem) with pem read from the --ca-file; a
	// client certificate goes in Certificates (tls.LoadX509KeyPair).
	pool := x509.NewCertPool()
	pool.AddCert(secure.Certificate())
	c, _ := client.New(client.Config{
		Endpoints: []string{secure.URL},
		TLS:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	})
	resp, err := c.Set(context.Background(), "/secret", "s3cr3t", client.SetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Action, resp.Node.Key)
	// Output: set /secret
}

func ExampleWatcher_Next_cancel() {
	srv := newFakeServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})

	// A watch waits as long as its context allows: nothing changes
	// /quiet, so Next returns when the deadline passes, with the
	// context's error. Cancelling the context works the same way.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Watcher("/quiet", client.WatcherOptions{}).Next(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}
