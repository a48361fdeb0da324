package bitrix

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDecodeResponse(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		body     string
		wantCode string // "" for success
		result   string
	}{
		{name: "a result with its time block", status: 200, body: `{"result":39,"time":{"operating_reset_at":1700000600}}`, result: "39"},
		{name: "a null result is a result (chat.get found nothing)", status: 200, body: `{"result":null,"time":{}}`, result: "null"},
		{name: "an error answers its code whatever the status", status: 400, body: `{"error":"BOT_ID_ERROR","error_description":"Bot not found"}`, wantCode: "BOT_ID_ERROR"},
		{name: "lower-case codes are kept as sent", status: 401, body: `{"error":"expired_token","error_description":"The access token provided has expired."}`, wantCode: "expired_token"},
		{name: "an error on HTTP 200 is still an error", status: 200, body: `{"error":"WRONG_REQUEST"}`, wantCode: "WRONG_REQUEST"},
		{name: "an HTML 502 page becomes HTTP_502", status: 502, body: "<html><body>Bad Gateway</body></html>", wantCode: "HTTP_502"},
		{name: "an empty 503 becomes HTTP_503", status: 503, body: "", wantCode: "HTTP_503"},
		{name: "JSON without result on 5xx becomes HTTP_5xx", status: 500, body: `{"foo":1}`, wantCode: "HTTP_500"},
		{name: "garbage on 200 is INVALID_RESPONSE", status: 200, body: "OK", wantCode: "INVALID_RESPONSE"},
		{name: "a non-string error is read as its number", status: 400, body: `{"error":404}`, wantCode: "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, e := decodeResponse(tc.status, []byte(tc.body))
			if tc.wantCode == "" {
				if e != nil {
					t.Fatalf("error %v", e)
				}
				if string(res.Result) != tc.result {
					t.Fatalf("result %s, want %s", res.Result, tc.result)
				}
				return
			}
			if e == nil || e.Code != tc.wantCode || e.HTTPStatus != tc.status {
				t.Fatalf("got %+v, want code %s status %d", e, tc.wantCode, tc.status)
			}
			if strings.Contains(e.Error(), "<html") {
				t.Fatalf("the HTML body leaked into %q", e.Error())
			}
		})
	}
}

func TestDecodeOperatingResetAt(t *testing.T) {
	reset := time.Now().Add(5 * time.Minute).Unix()
	body, _ := json.Marshal(map[string]any{
		"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked",
		"time": map[string]any{"operating_reset_at": reset},
	})
	res, e := decodeResponse(429, body)
	if e == nil || res.Time.OperatingResetAt.Unix() != reset || e.RetryAfter < 4*time.Minute {
		t.Fatalf("got %+v / %+v", res, e)
	}
}

// FuzzDecodeResponse: whatever a portal or a proxy sends back, decoding must not panic and
// must give either a result or an error. The seeds run as a normal test.
func FuzzDecodeResponse(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, `{"result":true,"time":{"start":1700000000.5,"operating_reset_at":1700000600,"operating":0}}`},
		{200, `{"result":{"39":{"ID":39,"NAME":"Bot","CODE":"bot","OPENLINE":"N"}}}`},
		{200, `{"result":[]}`},
		{200, `{"result":null}`},
		{200, `{"result":{"result":{"a":1},"result_error":[],"result_total":[],"result_next":[],"result_time":[]}}`},
		{400, `{"error":"MAX_COUNT_ERROR","error_description":"Has reached the maximum number of bots for application (max: 5)"}`},
		{401, `{"error":"expired_token","error_description":"The access token provided has expired."}`},
		{429, `{"error":"OPERATION_TIME_LIMIT","time":{"operating_reset_at":"1700000600"}}`},
		{503, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`},
		{502, "<html><head><title>502 Bad Gateway</title></head></html>"},
		{500, ""},
		{200, `{"result":`},
		{200, `{"error":{"nested":true},"time":[1,2]}`},
		{200, `{"time":{"operating_reset_at":1e300}}`},
		{302, `<a href="https://new.bitrix24.ru/rest/">Found</a>`},
		{200, "\x00\xff{"},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		res, e := decodeResponse(status, body)
		if e == nil && res.Result == nil {
			t.Fatalf("neither a result nor an error for %d %q", status, body)
		}
		if e != nil {
			_ = e.Error()
			_ = classify(e)
		}
		if e == nil {
			// The typed decoders must not panic on whatever result came back either.
			_, _ = decodeBotList(res.Result)
			_, _ = decodeDialog(res.Result)
			_, _ = decodeUserList(res.Result)
			_, _, _ = decodeChatGet(res.Result)
			_, _ = decodeInt(res.Result)
			_, _ = decodeAppInfo(res.Result)
			_, _ = decodeBatch(res.Result, nil)
		}
	})
}

func TestEncodePHPQuery(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{
			name:   "nested keys with brackets, sorted",
			params: map[string]any{"BOT_ID": 39, "FIELDS": map[string]any{"PROPERTIES": map[string]any{"NAME": "A & B", "COLOR": "RED"}}},
			want:   "BOT_ID=39&FIELDS[PROPERTIES][COLOR]=RED&FIELDS[PROPERTIES][NAME]=A+%26+B",
		},
		{
			name:   "lists are indexed",
			params: map[string]any{"USERS": []int{1, 2}},
			want:   "USERS[0]=1&USERS[1]=2",
		},
		{
			name:   "lists of maps (LANG)",
			params: map[string]any{"LANG": []params{{"LANGUAGE_ID": "en", "TITLE": "Help"}}},
			want:   "LANG[0][LANGUAGE_ID]=en&LANG[0][TITLE]=Help",
		},
		{
			name:   "flags become Y/N, bytes base64, nil is omitted",
			params: map[string]any{"HIDDEN": true, "POPUP": false, "ICON_FILE": []byte("hi"), "X": nil},
			want:   "HIDDEN=Y&ICON_FILE=aGk%3D&POPUP=N",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodePHPQuery(tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if _, err := url.ParseQuery(got); err != nil {
				t.Fatalf("not a valid query: %v", err)
			}
		})
	}
}

func TestClassification(t *testing.T) {
	cases := []struct {
		name                            string
		err                             error
		retryable, terminal, auth, gone bool
	}{
		{name: "rate limit: retry", err: &Error{Code: "QUERY_LIMIT_EXCEEDED", HTTPStatus: 503}, retryable: true},
		{name: "operating time: retry later", err: &Error{Code: "OPERATION_TIME_LIMIT", HTTPStatus: 429}, retryable: true},
		{name: "proxy 5xx: retry", err: &Error{Code: "HTTP_502", HTTPStatus: 502}, retryable: true},
		{name: "unknown 5xx code: retry", err: &Error{Code: "SOMETHING_NEW", HTTPStatus: 500}, retryable: true},
		{name: "unknown 4xx code: terminal", err: &Error{Code: "SOMETHING_NEW", HTTPStatus: 400}, terminal: true},
		{name: "network: retry", err: &Error{Code: codeNetwork}, retryable: true},
		{name: "ambiguous WRONG_REQUEST: retry after re-reading", err: &Error{Code: "WRONG_REQUEST", Ambiguous: true}, retryable: true},
		{name: "WRONG_REQUEST: terminal", err: &Error{Code: "WRONG_REQUEST", HTTPStatus: 400}, terminal: true},
		{name: "a domain code on HTTP 500 is still a verdict: terminal", err: &Error{Code: "WRONG_REQUEST", HTTPStatus: 500}, terminal: true},
		{name: "expired token: auth, retry", err: &Error{Code: "expired_token"}, retryable: true, auth: true},
		{name: "invalid grant: auth, terminal", err: &Error{Code: "invalid_grant"}, terminal: true, auth: true},
		{name: "wrong webhook: auth, terminal", err: &Error{Code: "INVALID_CREDENTIALS"}, terminal: true, auth: true},
		{name: "missing scope (any case): auth, terminal", err: &Error{Code: "INSUFFICIENT_SCOPE"}, terminal: true, auth: true},
		{name: "ACCESS_DENIED: auth, terminal", err: &Error{Code: "ACCESS_DENIED"}, terminal: true, auth: true},
		{name: "bot gone", err: &Error{Code: "BOT_ID_ERROR"}, terminal: true, gone: true},
		{name: "chat app gone", err: &Error{Code: "CHAT_APP_ID_ERROR"}, terminal: true, gone: true},
		{name: "another application's bot", err: &Error{Code: "APP_ID_ERROR"}, terminal: true},
		{name: "quota", err: &Error{Code: "MAX_COUNT_ERROR"}, terminal: true},
		{name: "wrapped errors are classified too", err: errors.Join(errors.New("ctx"), &Error{Code: "BOT_ID_ERROR"}), terminal: true, gone: true},
		{name: "a plain error is nothing", err: errors.New("boom")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRetryable(tc.err); got != tc.retryable {
				t.Errorf("IsRetryable = %v", got)
			}
			if got := IsTerminal(tc.err); got != tc.terminal {
				t.Errorf("IsTerminal = %v", got)
			}
			if got := IsAuth(tc.err); got != tc.auth {
				t.Errorf("IsAuth = %v", got)
			}
			if got := IsGone(tc.err); got != tc.gone {
				t.Errorf("IsGone = %v", got)
			}
		})
	}
}

func TestErrorIsMatchesCodeCaseInsensitively(t *testing.T) {
	err := error(&Error{Code: "EXPIRED_TOKEN", Method: "scope", HTTPStatus: 401})
	if !errors.Is(err, ErrExpiredToken) {
		t.Fatal("EXPIRED_TOKEN does not match expired_token")
	}
	if errors.Is(err, ErrInvalidGrant) {
		t.Fatal("matched another code")
	}
}

func TestNewRefusesBadConfigWithoutEchoingSecrets(t *testing.T) {
	const secret = "s3cr3t-c0de"
	cases := []struct {
		name string
		opts []Option
	}{
		{name: "no credentials", opts: nil},
		{name: "webhook and OAuth at once", opts: []Option{WithWebhook("https://p/rest/1/"+secret+"/", "c"),
			WithOAuth("https://p", "id", "secret", "", Tokens{RefreshToken: "r"}, nil)}},
		{name: "a webhook URL without the code", opts: []Option{WithWebhook("https://p/rest/"+secret, "c")}},
		{name: "a webhook URL that is not http(s)", opts: []Option{WithWebhook("ftp://p/rest/1/"+secret+"/", "c")}},
		{name: "a webhook without a client id", opts: []Option{WithWebhook("https://p/rest/1/"+secret+"/", "")}},
		{name: "OAuth without a refresh token", opts: []Option{WithOAuth("https://p", "id", secret, "", Tokens{}, nil)}},
		{name: "a CA bundle without certificates", opts: []Option{WithWebhook("https://p/rest/1/"+secret+"/", "c"), WithCABundle([]byte("nope"))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts...)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q echoes the secret", err)
			}
		})
	}
}

func TestAppContext(t *testing.T) {
	cases := []struct {
		ctx   string
		admin bool
		want  string
	}{
		{"", false, ""}, {"bot", false, "BOT"}, {"BOT-admin", false, "BOT-admin"},
		{"CHAT", true, "CHAT-admin"}, {"", true, "ALL-admin"}, {"bot-ADMIN", true, "BOT-admin"},
	}
	for _, tc := range cases {
		if got := appContext(tc.ctx, tc.admin); got != tc.want {
			t.Errorf("appContext(%q, %v) = %q, want %q", tc.ctx, tc.admin, got, tc.want)
		}
	}
}
