package bitrix

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// params is the body of one call: top-level keys as Bitrix documents them, nested keys UPPER
// case (Bitrix ignores lower-case nested keys). It is marshalled as JSON for a single call and
// with PHP brackets inside a batch command, so both paths share the builders in the method files.
type params map[string]any

// setString sets k only when v is not empty: absent optional fields are omitted, not blanked.
func (p params) setString(k, v string) {
	if v != "" {
		p[k] = v
	}
}

func (p params) setInt(k string, v int) {
	if v != 0 {
		p[k] = v
	}
}

// setFlag sets a Y flag only when true (registrations: N is the default).
func (p params) setFlag(k string, v bool) {
	if v {
		p[k] = "Y"
	}
}

// setBytes sends an image base64-encoded, as PERSONAL_PHOTO, ICON_FILE and AVATAR expect.
func (p params) setBytes(k string, v []byte) {
	if len(v) > 0 {
		p[k] = base64.StdEncoding.EncodeToString(v)
	}
}

func yn(v bool) string {
	if v {
		return "Y"
	}
	return "N"
}

// encodePHPQuery encodes params the way PHP's http_build_query does, which is what Bitrix
// parses inside a batch command: FIELDS[CODE]=x&USERS[0]=1&USERS[1]=2. Keys are sorted so a
// command is deterministic. Booleans become Y/N and byte slices base64.
func encodePHPQuery(p map[string]any) (string, error) {
	var pairs []string
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := appendPHP(&pairs, url.QueryEscape(k), reflect.ValueOf(p[k])); err != nil {
			return "", fmt.Errorf("parameter %s: %w", k, err)
		}
	}
	return strings.Join(pairs, "&"), nil
}

func appendPHP(pairs *[]string, key string, v reflect.Value) error {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil // nil: omitted
	}
	if n, ok := v.Interface().(json.Number); ok {
		*pairs = append(*pairs, key+"="+url.QueryEscape(n.String()))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		*pairs = append(*pairs, key+"="+url.QueryEscape(v.String()))
	case reflect.Bool:
		*pairs = append(*pairs, key+"="+yn(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		*pairs = append(*pairs, key+"="+strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		*pairs = append(*pairs, key+"="+strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		*pairs = append(*pairs, key+"="+strconv.FormatFloat(v.Float(), 'f', -1, 64))
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			*pairs = append(*pairs, key+"="+url.QueryEscape(base64.StdEncoding.EncodeToString(v.Bytes())))
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			if err := appendPHP(pairs, key+"["+strconv.Itoa(i)+"]", v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("map key type %s is not string", v.Type().Key())
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := appendPHP(pairs, key+"["+url.QueryEscape(k)+"]", v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("cannot encode %s", v.Kind())
	}
	return nil
}
