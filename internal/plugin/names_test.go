package plugin

import (
	"errors"
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	cases := []struct {
		name, code, want string
	}{
		{name: "a DNS-1123 code stays as it is", code: "support", want: "support"},
		{name: "underscores become dashes", code: "night_shift", want: "night-shift"},
		{name: "upper case is lowered", code: "SalesBot", want: "salesbot"},
		{name: "runs of other characters become one dash", code: "a__b..c", want: "a-b-c"},
		{name: "no dash at either end", code: "_bot_", want: "bot"},
		{name: "nothing usable gives empty (uniqueName then names it bot-ID)", code: "___", want: ""},
		{name: "at most 63 characters, no trailing dash after the cut", code: strings.Repeat("a", 62) + "_b", want: strings.Repeat("a", 62)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sanitizeName(tc.code); got != tc.want {
				t.Fatalf("sanitizeName(%q) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	cases := []struct {
		name  string
		taken []string
		base  string
		id    int
		want  string
	}{
		{name: "a free name is used as it is", base: "support", id: 7, want: "support"},
		{name: "a taken name gets the remote id", taken: []string{"support"}, base: "support", id: 7, want: "support-7"},
		{name: "an empty name becomes bot-ID", base: "", id: 7, want: "bot-7"},
		{name: "a taken name-ID gets a counter too", taken: []string{"a", "a-7"}, base: "a", id: 7, want: "a-7-1"},
		{name: "the suffix fits in 63 characters", taken: []string{strings.Repeat("x", 63)}, base: strings.Repeat("x", 63), id: 12, want: strings.Repeat("x", 60) + "-12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			used := map[string]bool{}
			for _, n := range tc.taken {
				used[n] = true
			}
			got := uniqueName(used, tc.base, tc.id)
			if got != tc.want || !used[got] {
				t.Fatalf("uniqueName(%q, %d) = %q (marked used %v), want %q", tc.base, tc.id, got, used[got], tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{name: "success is 0", want: ExitOK},
		{name: "any error is 1", err: errors.New("boom"), want: ExitError},
		{name: "not Ready after a wait is 2, even wrapped", err: errors.Join(errors.New("ctx"), notReady("x")), want: ExitNotReady},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
