package metabot_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/b24ops/b24-operator/internal/metabot"
)

func TestJobValidate(t *testing.T) {
	cases := []struct {
		name    string
		job     metabot.Job
		wantErr bool
	}{
		{"a script code alone is valid", metabot.Job{Target: metabot.ScriptCode("a")}, false},
		{"a trigger id alone is valid", metabot.Job{Target: metabot.TriggerID(1)}, false},
		{"no target is refused", metabot.Job{}, true},
		{"an unknown target kind is refused", metabot.Job{Target: metabot.Target{Kind: "macro", ID: 1}}, true},
		{"both id and code are refused", metabot.Job{Target: metabot.Target{Kind: metabot.TargetTrigger, ID: 1, Code: "x"}}, true},
		{"neither id nor code is refused", metabot.Job{Target: metabot.Target{Kind: metabot.TargetBroadcast}}, true},
		{"a negative id is refused", metabot.Job{Target: metabot.ScriptID(-1)}, true},
		{"a negative lead id is refused", metabot.Job{Target: metabot.ScriptID(1), LeadID: -2}, true},
		{"a negative delay is refused", metabot.Job{Target: metabot.ScriptID(1), RunAfterSec: new(int64(-1))}, true},
		{"params that are not JSON are refused", metabot.Job{Target: metabot.ScriptID(1), Params: json.RawMessage(`{oops`)}, true},
		{"params that are a JSON array are refused", metabot.Job{Target: metabot.ScriptID(1), Params: json.RawMessage(`[1]`)}, true},
		{"params that are null are refused", metabot.Job{Target: metabot.ScriptID(1), Params: json.RawMessage(`null`)}, true},
		{"params with leading space are an object", metabot.Job{Target: metabot.ScriptID(1), Params: json.RawMessage(" {\"a\":1}")}, false},
		{"a tag with a comma is refused (it would split)", metabot.Job{Target: metabot.ScriptID(1), AddTags: []string{"a,b"}}, true},
		{"an empty tag is refused", metabot.Job{Target: metabot.ScriptID(1), RemoveTags: []string{""}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.job.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, metabot.ErrInvalidJob) {
				t.Errorf("error %v does not wrap ErrInvalidJob", err)
			}
		})
	}
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	cases := []struct {
		name    string
		baseURL string
		botID   int64
		token   string
		opts    []metabot.Option
	}{
		{"bot id must be positive", "", 0, "t", nil},
		{"token must not be empty", "", 1, " ", nil},
		{"token must not contain a newline (header injection)", "", 1, "abc\ndef", nil},
		{"base URL must be http(s)", "ftp://example.com", 1, "t", nil},
		{"base URL must have a host", "https://", 1, "t", nil},
		{"base URL must not carry credentials", "https://user:pass@example.com", 1, "t", nil},
		{"CA bundle must hold a certificate", "", 1, "t", []metabot.Option{metabot.WithCABundle([]byte("not pem"))}},
		{"timeout must not be negative", "", 1, "t", []metabot.Option{metabot.WithTimeout(-1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := metabot.New(tc.baseURL, tc.botID, tc.token, tc.opts...)
			if !errors.Is(err, metabot.ErrConfig) {
				t.Fatalf("New() error = %v, want ErrConfig", err)
			}
			if tc.token != "t" && tc.token != " " && strings.Contains(err.Error(), tc.token) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}
