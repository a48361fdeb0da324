package bitrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// response is a decoded Bitrix answer: either a result or an *Error.
type response struct {
	Result json.RawMessage
	Time   timeInfo
}

// timeInfo is the part of the `time` block the client uses.
type timeInfo struct {
	// OperatingResetAt is when the operating-time window of the called method resets.
	OperatingResetAt time.Time
}

type rawEnvelope struct {
	Result           json.RawMessage `json:"result"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription json.RawMessage `json:"error_description"`
	Time             json.RawMessage `json:"time"`
}

// decodeResponse turns an HTTP status and body into a result or an *Error. It never panics
// and tolerates anything a proxy may put in front of Bitrix: HTML or empty 5xx bodies,
// truncated JSON, an `error` that is not a string.
func decodeResponse(status int, body []byte) (response, *Error) {
	res, e, err := decodeStream(status, bytes.NewReader(body))
	if err != nil { // reading a byte slice cannot fail; keep the contract anyway
		return response{}, &Error{Code: codeInvalidResponse, Description: "unreadable body", HTTPStatus: status}
	}
	return res, e
}

// decodeStream is decodeResponse reading the body as it arrives. The error is a failure to
// read the body (transport, context, *outbound.TooLargeError), not a Bitrix answer.
func decodeStream(status int, r io.Reader) (response, *Error, error) {
	var env rawEnvelope
	what, jsonErr, readErr := decodeJSON(r, &env)
	if readErr != nil {
		return response{}, nil, readErr
	}
	if jsonErr == nil {
		ti := decodeTime(env.Time)
		if code := jsonString(env.Error); code != "" {
			return response{Time: ti}, &Error{
				Code:        code,
				Description: jsonString(env.ErrorDescription),
				HTTPStatus:  status,
				RetryAfter:  retryAfterFrom(code, ti),
			}, nil
		}
		if status >= 200 && status < 300 && env.Result != nil {
			return response{Result: env.Result, Time: ti}, nil, nil
		}
	}
	if status < 200 || status >= 300 {
		// 5xx from a proxy (HTML), an empty body, or a JSON body without a Bitrix error.
		return response{}, &Error{
			Code:        fmt.Sprintf("HTTP_%d", status),
			Description: what,
			HTTPStatus:  status,
		}, nil
	}
	return response{}, &Error{
		Code:        codeInvalidResponse,
		Description: "the response is not a Bitrix24 answer: " + what,
		HTTPStatus:  status,
	}, nil
}

func retryAfterFrom(code string, ti timeInfo) time.Duration {
	if !strings.EqualFold(code, ErrOperationTimeLimit.Code) || ti.OperatingResetAt.IsZero() {
		return 0
	}
	if d := time.Until(ti.OperatingResetAt); d > 0 {
		return d
	}
	return 0
}

func decodeTime(raw json.RawMessage) timeInfo {
	var t struct {
		OperatingResetAt json.RawMessage `json:"operating_reset_at"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &t) != nil {
		return timeInfo{}
	}
	f, ok := jsonNumber(t.OperatingResetAt)
	if !ok || f <= 0 || f > 1e11 || math.IsNaN(f) {
		return timeInfo{}
	}
	sec, frac := math.Modf(f)
	return timeInfo{OperatingResetAt: time.Unix(int64(sec), int64(frac*1e9))}
}

// jsonString returns a JSON string's value, the text of a number, or "".
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// jsonNumber reads a JSON number or a numeric string.
func jsonNumber(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f, true
		}
	}
	return 0, false
}

// flexInt decodes an id that Bitrix sends either as a number or as a numeric string
// ("id": "21191" in im.dialog.get, numbers elsewhere).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = 0
		return nil
	}
	v, ok := jsonNumber(b)
	if !ok || v != math.Trunc(v) || math.Abs(v) > math.MaxInt32*1024.0 {
		return fmt.Errorf("not an integer: %.40s", b)
	}
	*f = flexInt(v)
	return nil
}

// flexBool decodes a Bitrix flag: true/false, "Y"/"N", 1/0.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*f = flexBool(x)
	case string:
		*f = flexBool(strings.EqualFold(x, "Y") || x == "1" || strings.EqualFold(x, "true"))
	case float64:
		*f = x != 0
	case nil:
		*f = false
	default:
		return fmt.Errorf("not a flag: %.40s", b)
	}
	return nil
}

// isEmptyList reports whether raw is `[]`, which PHP's json_encode produces for an empty
// associative array (an empty bot list, an empty batch result_error...).
func isEmptyList(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "[]"
}

// isNull reports whether raw is absent or `null`.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// decodeInt decodes a result that is a single id (BOT_ID, APP_ID, CHAT_ID).
func decodeInt(raw json.RawMessage) (int, error) {
	var v flexInt
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return int(v), nil
}

// decodeTrue checks a result that Bitrix documents as `true`.
func decodeTrue(raw json.RawMessage) error {
	var v flexBool
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	if !v {
		return fmt.Errorf("result is %.40s, want true", raw)
	}
	return nil
}
