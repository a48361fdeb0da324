package controller

import (
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/rules"
)

func TestIdentityPreviousFor(t *testing.T) {
	const url = "https://acme.bitrix24.ru"
	clear := func(id string) string { return rules.IdentityKey(url, id, false) }
	hashed := func(id string) string { return rules.IdentityKey(url, id, true) }
	cases := []struct {
		name     string
		id       Identity
		key      string
		owns     bool
		previous string // "" : none known
	}{
		{name: "the current identity in spec owns its key", id: Identity{url: url, current: "new", AppKey: clear("new")}, key: clear("new"), owns: true},
		{name: "the same identity moved into the Secret still owns the clear key", id: Identity{url: url, current: "new", AppKey: hashed("new")}, key: clear("new"), owns: true},
		{name: "the same identity moved into spec still owns the fingerprint", id: Identity{url: url, current: "new", AppKey: clear("new")}, key: hashed("new"), owns: true},
		{name: "a clear key of another identity names its own token", id: Identity{url: url, current: "new", AppKey: clear("new")}, key: clear("old"), previous: "old"},
		{name: "a fingerprint is matched by previousClientId", id: Identity{url: url, current: "new", previous: "old", AppKey: hashed("new")}, key: hashed("old"), previous: "old"},
		{name: "a fingerprint previousClientId does not match is unknown", id: Identity{url: url, current: "new", previous: "other", AppKey: hashed("new")}, key: hashed("old")},
		{name: "a key of another host is unknown", id: Identity{url: url, current: "new", AppKey: clear("new")}, key: "other.bitrix24.ru/old"},
		{name: "OAuth has no token to rotate", id: Identity{url: url, AppKey: clear("local.1")}, key: clear("local.2")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.id.Owns(tc.key); got != tc.owns {
				t.Errorf("Owns(%q) = %v, want %v", tc.key, got, tc.owns)
			}
			prev, ok := tc.id.previousFor(tc.key)
			if ok != (tc.previous != "") || prev != tc.previous {
				t.Errorf("previousFor(%q) = %q, %v; want %q", tc.key, prev, ok, tc.previous)
			}
		})
	}
	if k := hashed("secret-token"); len(k) == 0 || strings.Contains(k, "secret-token") {
		t.Errorf("the fingerprint key %q tells the identity", k)
	}
}
