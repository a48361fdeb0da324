package bitrix

import (
	"net/http"
	"testing"
)

func TestMethodLabel(t *testing.T) {
	cases := []struct {
		name, url, want string
	}{
		{"a webhook call is labelled by its method", "https://p.example/rest/1/s3cr3t/imbot.register", "imbot.register"},
		{"an OAuth call is labelled by its method", "https://p.example/rest/imbot.bot.list", "imbot.bot.list"},
		{"a .json suffix is dropped", "https://p.example/rest/1/s3cr3t/imbot.chat.add.json", "imbot.chat.add"},
		{"batch has no dot and is kept", "https://p.example/rest/1/s3cr3t/batch", "batch"},
		{"the token endpoint is oauth.token", "https://oauth.example/oauth/token/", "oauth.token"},
		{"a bare webhook URL never exposes its code", "https://p.example/rest/1/s3cr3t/", "other"},
		{"an unknown undotted segment is other", "https://p.example/whatever", "other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := methodLabel(r); got != tc.want {
				t.Fatalf("methodLabel(%s) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}
