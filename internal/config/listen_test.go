package config

import (
	"reflect"
	"testing"
)

func TestListeners(t *testing.T) {
	crt := writeFile(t, "c.crt", "x")
	key := writeFile(t, "c.key", "x")
	defClient := []string{"127.0.0.1:2379", "127.0.0.1:4001"}
	defClientURLs := []string{"http://127.0.0.1:2379", "http://127.0.0.1:4001"}
	defPeer := []string{"127.0.0.1:2380", "127.0.0.1:7001"}
	defPeerURLs := []string{"http://127.0.0.1:2380", "http://127.0.0.1:7001"}
	cases := []struct {
		name                     string
		args                     []string
		env                      map[string]string
		addr, bind               string
		clientListen, clientURLs []string
		peerAddr, peerBind       string
		peerListen, peerURLs     []string
	}{
		{
			name: "defaults keep both pairs",
			addr: "127.0.0.1:4001", bind: "127.0.0.1:4001", clientListen: defClient, clientURLs: defClientURLs,
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "addr replaces the client pair; bind follows it",
			args: []string{"-addr", "10.0.0.1:4001"},
			addr: "10.0.0.1:4001", bind: "10.0.0.1:4001",
			clientListen: []string{"10.0.0.1:4001"}, clientURLs: []string{"http://10.0.0.1:4001"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "cloud-config environment",
			env:  map[string]string{"ETCD_ADDR": "10.0.0.5:4001", "ETCD_PEER_ADDR": "10.0.0.5:7001"},
			addr: "10.0.0.5:4001", bind: "10.0.0.5:4001",
			clientListen: []string{"10.0.0.5:4001"}, clientURLs: []string{"http://10.0.0.5:4001"},
			peerAddr: "10.0.0.5:7001", peerBind: "10.0.0.5:7001",
			peerListen: []string{"10.0.0.5:7001"}, peerURLs: []string{"http://10.0.0.5:7001"},
		},
		{
			name: "bind host only takes the addr port (etcd 0.4)",
			args: []string{"-addr", "10.0.0.1:4001", "-bind-addr", "0.0.0.0"},
			addr: "10.0.0.1:4001", bind: "0.0.0.0:4001",
			clientListen: []string{"0.0.0.0:4001"}, clientURLs: []string{"http://10.0.0.1:4001"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "bind port only is kept",
			args: []string{"-addr", "10.0.0.1:4001", "-bind-addr", ":4001"},
			addr: "10.0.0.1:4001", bind: ":4001",
			clientListen: []string{":4001"}, clientURLs: []string{"http://10.0.0.1:4001"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "bind with its own port",
			args: []string{"-addr", "public.example:4001", "-bind-addr", "127.0.0.1:5001"},
			addr: "public.example:4001", bind: "127.0.0.1:5001",
			clientListen: []string{"127.0.0.1:5001"}, clientURLs: []string{"http://public.example:4001"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "bind alone on every interface advertises loopback",
			args: []string{"-bind-addr", "0.0.0.0:2379"},
			addr: "127.0.0.1:2379", bind: "0.0.0.0:2379",
			clientListen: []string{"0.0.0.0:2379"}, clientURLs: []string{"http://127.0.0.1:2379"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "bind alone on one host advertises it",
			args: []string{"-bind-addr", "10.1.1.1"},
			addr: "10.1.1.1:4001", bind: "10.1.1.1:4001",
			clientListen: []string{"10.1.1.1:4001"}, clientURLs: []string{"http://10.1.1.1:4001"},
			peerAddr: "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "IPv6, bracketed and bare host",
			args: []string{"-addr", "[::1]:4001", "-bind-addr", "::1", "-peer-addr", "[fd00::1]:7001", "-peer-bind-addr", "[::]"},
			addr: "[::1]:4001", bind: "[::1]:4001",
			clientListen: []string{"[::1]:4001"}, clientURLs: []string{"http://[::1]:4001"},
			peerAddr: "[fd00::1]:7001", peerBind: "[::]:7001",
			peerListen: []string{"[::]:7001"}, peerURLs: []string{"http://[fd00::1]:7001"},
		},
		{
			name: "peer side alone, deprecated spellings",
			args: []string{"-s", "10.0.0.1:7001", "-sl", "0.0.0.0"},
			addr: "127.0.0.1:4001", bind: "127.0.0.1:4001", clientListen: defClient, clientURLs: defClientURLs,
			peerAddr: "10.0.0.1:7001", peerBind: "0.0.0.0:7001",
			peerListen: []string{"0.0.0.0:7001"}, peerURLs: []string{"http://10.0.0.1:7001"},
		},
		{
			name: "client TLS makes client URLs https, peers stay http",
			args: []string{"-cert-file", crt, "-key-file", key},
			addr: "127.0.0.1:4001", bind: "127.0.0.1:4001", clientListen: defClient,
			clientURLs: []string{"https://127.0.0.1:2379", "https://127.0.0.1:4001"},
			peerAddr:   "127.0.0.1:7001", peerBind: "127.0.0.1:7001", peerListen: defPeer, peerURLs: defPeerURLs,
		},
		{
			name: "peer TLS",
			args: []string{"-peer-addr", "10.0.0.1:7001", "-peer-cert-file", crt, "-peer-key-file", key},
			addr: "127.0.0.1:4001", bind: "127.0.0.1:4001", clientListen: defClient, clientURLs: defClientURLs,
			peerAddr: "10.0.0.1:7001", peerBind: "10.0.0.1:7001",
			peerListen: []string{"10.0.0.1:7001"}, peerURLs: []string{"https://10.0.0.1:7001"},
		},
		{
			name: "port 0 for tests",
			args: []string{"-addr", "127.0.0.1:0", "-peer-addr", "127.0.0.1:0"},
			addr: "127.0.0.1:0", bind: "127.0.0.1:0",
			clientListen: []string{"127.0.0.1:0"}, clientURLs: []string{"http://127.0.0.1:0"},
			peerAddr: "127.0.0.1:0", peerBind: "127.0.0.1:0",
			peerListen: []string{"127.0.0.1:0"}, peerURLs: []string{"http://127.0.0.1:0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, tc.args, tc.env)
			got := []any{c.Addr, c.BindAddr, c.ClientListen, c.ClientURLs, c.PeerAddr, c.PeerBindAddr, c.PeerListen, c.PeerURLs}
			want := []any{tc.addr, tc.bind, tc.clientListen, tc.clientURLs, tc.peerAddr, tc.peerBind, tc.peerListen, tc.peerURLs}
			names := []string{"Addr", "BindAddr", "ClientListen", "ClientURLs", "PeerAddr", "PeerBindAddr", "PeerListen", "PeerURLs"}
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("%s = %#v, want %#v", names[i], got[i], want[i])
				}
			}
			if len(c.ClientListen) != len(c.ClientURLs) || len(c.PeerListen) != len(c.PeerURLs) {
				t.Errorf("listen and URL lists differ in length")
			}
		})
	}
}

func TestUnspecifiedAdvertiseWarns(t *testing.T) {
	c := mustLoad(t, []string{"-addr", "0.0.0.0:4001"}, nil)
	if !hasWarning(c, "-addr 0.0.0.0:4001 advertises an unspecified address") {
		t.Errorf("warnings %q", c.Warnings)
	}
	c = mustLoad(t, []string{"-addr", "10.0.0.1:4001", "-bind-addr", "0.0.0.0"}, nil)
	if len(c.Warnings) != 0 {
		t.Errorf("unexpected warnings %q", c.Warnings)
	}
}
