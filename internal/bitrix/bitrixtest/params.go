package bitrixtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params are a request's parameters as Bitrix sees them: top-level keys upper-cased (Bitrix
// treats them case-insensitively), nested keys as sent (Bitrix reads them UPPER case only, so
// lower-case nested keys are silently ignored). Values are string, json.Number, bool, nil,
// []any or map[string]any; PHP-bracket lists arrive as maps keyed "0", "1"...
type params map[string]any

// request is a parsed REST request.
type request struct {
	params params
	// cmdOrder is the order of the batch's cmd keys as sent: Bitrix runs them in that order.
	cmdOrder []string
}

const maxRequestBody = 64 << 20

// parseRequest merges the query string and the body (JSON or form-encoded); the body wins.
func parseRequest(r *http.Request) (request, error) {
	out := request{params: params{}}
	q, order, err := parsePHPQuery(r.URL.RawQuery)
	if err != nil {
		return out, err
	}
	mergeTop(out.params, q)
	out.cmdOrder = order
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		return out, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return out, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))):
		p, order, err := parseJSONBody(body)
		if err != nil {
			return out, err
		}
		mergeTop(out.params, p)
		if order != nil {
			out.cmdOrder = order
		}
	default:
		p, order, err := parsePHPQuery(string(body))
		if err != nil {
			return out, err
		}
		mergeTop(out.params, p)
		if order != nil {
			out.cmdOrder = order
		}
	}
	return out, nil
}

func mergeTop(dst, src params) {
	for k, v := range src {
		dst[strings.ToUpper(k)] = v
	}
}

func parseJSONBody(body []byte) (params, []string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, fmt.Errorf("body is not a JSON object: %w", err)
	}
	out := params{}
	var order []string
	for k, raw := range top {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		out[strings.ToUpper(k)] = v
		if strings.EqualFold(k, "cmd") {
			order = objectKeyOrder(raw)
		}
	}
	return out, order, nil
}

// objectKeyOrder returns the keys of a JSON object in the order they appear.
func objectKeyOrder(raw json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}

// parsePHPQuery parses a query string the way PHP's parse_str does:
// FIELDS[PROPERTIES][NAME]=x, USERS[]=1, USERS[1]=2. It also returns the order of the
// cmd[...] keys, for batch.
func parsePHPQuery(raw string) (params, []string, error) {
	out := params{}
	var order []string
	seen := map[string]bool{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, nil, fmt.Errorf("bad query key: %w", err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, nil, fmt.Errorf("bad query value: %w", err)
		}
		segs := splitBrackets(key)
		if len(segs) == 0 || segs[0] == "" {
			continue
		}
		segs[0] = strings.ToUpper(segs[0])
		if segs[0] == "CMD" && len(segs) > 1 && !seen[segs[1]] {
			seen[segs[1]] = true
			order = append(order, segs[1])
		}
		insert(out, segs, val)
	}
	return out, order, nil
}

// splitBrackets splits "a[b][c]" into ["a", "b", "c"] and "a[]" into ["a", ""].
func splitBrackets(key string) []string {
	i := strings.IndexByte(key, '[')
	if i <= 0 {
		return []string{key}
	}
	segs := []string{key[:i]}
	rest := key[i:]
	for strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			break
		}
		segs = append(segs, rest[1:j])
		rest = rest[j+1:]
	}
	return segs
}

func insert(m map[string]any, segs []string, val string) {
	k := segs[0]
	if len(segs) == 1 {
		m[k] = val
		return
	}
	child, ok := m[k].(map[string]any)
	if !ok {
		child = map[string]any{}
		m[k] = child
	}
	next := segs[1]
	if next == "" {
		next = strconv.Itoa(len(child))
	}
	insert(child, append([]string{next}, segs[2:]...), val)
}

// Accessors, loose the way PHP is loose.

func (p params) str(k string) string { return str(p[k]) }

func (p params) int(k string) (int, bool) { return intOf(p[k]) }

func (p params) flag(k string) bool { return flagOf(p[k]) }

func (p params) mapOf(k string) params { return mapOf(p[k]) }

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "Y"
		}
		return "N"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		return n, err == nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	case float64:
		return int(x), x == float64(int(x))
	case int:
		return x, true
	}
	return 0, false
}

// flagOf reads a Y/N flag. PHP compares with == 'Y', which a JSON true also passes.
func flagOf(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.EqualFold(x, "Y")
	case bool:
		return x
	}
	return false
}

func mapOf(v any) params {
	switch x := v.(type) {
	case map[string]any:
		return params(x)
	case params:
		return x
	}
	return nil
}

// listOf reads a list sent as a JSON array or as PHP brackets (a map keyed by index).
func listOf(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, aerr := strconv.Atoi(keys[i])
			b, berr := strconv.Atoi(keys[j])
			if aerr == nil && berr == nil {
				return a < b
			}
			return keys[i] < keys[j]
		})
		out := make([]any, 0, len(x))
		for _, k := range keys {
			out = append(out, x[k])
		}
		return out
	case nil:
		return nil
	default:
		// A single value where a list is expected: PHP would see a scalar.
		return []any{x}
	}
}

// intList reads a list of ids; ok is false when an element is not an integer.
func intList(v any) ([]int, bool) {
	var out []int
	for _, e := range listOf(v) {
		n, ok := intOf(e)
		if !ok {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// copyParams returns a deep copy without the credentials, for the call log.
func copyParams(p params) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if k == "AUTH" {
			continue
		}
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case params:
		return deepCopy(map[string]any(x))
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
