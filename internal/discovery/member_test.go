package discovery

import (
	"slices"
	"strings"
	"testing"
)

var registrationCases = []struct {
	key, value string
	want       Member // Index 7 is added
	bad        bool
}{
	{key: "a1", value: "m1=http://10.0.1.10:2380", want: Member{ID: 0xa1, Name: "m1", PeerURLs: []string{"http://10.0.1.10:2380"}}},
	{key: "8e9e05c52164694d", value: "infra0=http://10.0.1.10:2380,infra0=https://10.0.2.10:2380",
		want: Member{ID: 0x8e9e05c52164694d, Name: "infra0", PeerURLs: []string{"http://10.0.1.10:2380", "https://10.0.2.10:2380"}}},
	// etcd 0.4 keyed registrations by name and stored host:port.
	{key: "peer1", value: "127.0.0.1:7001", want: Member{Name: "peer1", PeerURLs: []string{"http://127.0.0.1:7001"}}},
	{key: "cafe", value: "10.0.0.1:7001", want: Member{Name: "cafe", PeerURLs: []string{"http://10.0.0.1:7001"}}},
	{key: "a1", value: "m1=http://x:1,m2=http://y:1", bad: true},
	{key: "a1", value: "=http://x:1", bad: true},
	{key: "a1", value: "m1=", bad: true},
	{key: "a1", value: "m1=ftp://x:1", bad: true},
	{key: "a1", value: "", bad: true},
	{key: "", value: "10.0.0.1:7001", bad: true},
}

func TestParseRegistration(t *testing.T) {
	for _, tc := range registrationCases {
		got, err := parseRegistration(tc.key, tc.value, 7)
		if tc.bad {
			if err == nil {
				t.Errorf("%s=%q: parsed as %+v, want an error", tc.key, tc.value, got)
			}
			continue
		}
		tc.want.Index = 7
		if err != nil || got.ID != tc.want.ID || got.Name != tc.want.Name || got.Index != 7 || !slices.Equal(got.PeerURLs, tc.want.PeerURLs) {
			t.Errorf("%s=%q: %+v, %v; want %+v", tc.key, tc.value, got, err, tc.want)
		}
	}
}

func TestRegistrationRoundTrip(t *testing.T) {
	urls := []string{"http://10.0.1.10:2380", "https://[::1]:7001"}
	v := encodeRegistration("infra0", urls)
	if v != "infra0=http://10.0.1.10:2380,infra0=https://[::1]:7001" {
		t.Errorf("encoded %q, want etcd 2's initial-cluster form", v)
	}
	m, err := parseRegistration(idKey(0x8e9e05c52164694d), v, 1)
	if err != nil || m.ID != 0x8e9e05c52164694d || m.Name != "infra0" || !slices.Equal(m.PeerURLs, urls) {
		t.Errorf("round trip: %+v, %v", m, err)
	}
}

func FuzzParseRegistration(f *testing.F) {
	for _, tc := range registrationCases {
		f.Add(tc.key, tc.value)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		m, err := parseRegistration(key, value, 1)
		if err != nil {
			return
		}
		if m.Name == "" || len(m.PeerURLs) == 0 {
			t.Fatalf("%s=%q parsed without a name or URL: %+v", key, value, m)
		}
		if m.ID == 0 || strings.ContainsAny(m.Name, "=,") {
			return // 0.4 form: not re-encodable
		}
		again, err := parseRegistration(key, encodeRegistration(m.Name, m.PeerURLs), 1)
		if err != nil || again.Name != m.Name || !slices.Equal(again.PeerURLs, m.PeerURLs) {
			t.Fatalf("%s=%q: re-encoded as %+v, %v; first %+v", key, value, again, err, m)
		}
	})
}
