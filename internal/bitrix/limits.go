package bitrix

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// DefaultMaxResponseBytes caps one answer. Bitrix24's answers are small (a batch of 50 commands
// stays well under a megabyte, an HTML error page is a few KiB): anything larger is a broken or
// hostile endpoint, and reading it would only cost the operator its memory.
const DefaultMaxResponseBytes = 4 << 20

// DefaultResponseBudget bounds the answer bytes that all clients of the process read at once
// (see outbound.Budget) when WithResponseBudget is not given.
const DefaultResponseBudget = 32 << 20

// defaultBudget is shared by every client that was not given a budget of its own.
var defaultBudget = outbound.NewBudget(DefaultResponseBudget)

// WithMaxResponseBytes caps the size of one answer (default DefaultMaxResponseBytes). A larger
// answer is not read further and fails the call with RESPONSE_TOO_LARGE, a terminal error.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n < 1<<10 {
			return errors.New("bitrix24: WithMaxResponseBytes needs at least 1 KiB")
		}
		c.maxResponseBytes = n
		return nil
	}
}

// WithResponseBudget makes the client take its share of b before reading an answer (the
// declared length, or the whole cap when the length is unknown). Share one budget between all
// clients of the process; the default is a package-wide budget of DefaultResponseBudget.
func WithResponseBudget(b *outbound.Budget) Option {
	return func(c *config) error {
		if b == nil {
			return errors.New("bitrix24: WithResponseBudget(nil)")
		}
		c.budget = b
		return nil
	}
}

// WithOutboundPolicy refuses calls to hosts off p's allow-list and connections to the address
// ranges p denies, checked on the address actually dialled. It needs the client's transport to
// be an *http.Transport (the default, or one given with WithHTTPClient).
func WithOutboundPolicy(p *outbound.Policy) Option {
	return func(c *config) error {
		if err := p.Validate(); err != nil {
			return err
		}
		c.policy = p
		return nil
	}
}

// codeResponseTooLarge is the error of an answer over the size cap.
const codeResponseTooLarge = "RESPONSE_TOO_LARGE"

// isReadError tells a failure to read the body (transport, size cap, context) from a body that
// is not valid JSON.
func isReadError(err error) bool {
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return !errors.As(err, &syn) && !errors.As(err, &typ)
}

// decodeJSON decodes the one JSON object r holds into v as it streams in (no copy of the whole
// body is made: the decoder's buffer holds one value, and the size cap bounds it). jsonErr is
// set when the body is not a single JSON object, and what then says what kind of body it was,
// without quoting it (an HTML error page may echo the request path, which holds the webhook
// code). readErr is a failure to read the body: transport, context, *outbound.TooLargeError.
func decodeJSON(r io.Reader, v any) (what string, jsonErr, readErr error) {
	br := bufio.NewReaderSize(r, 4<<10)
	first, err := skipSpace(br)
	switch {
	case err == io.EOF:
		return "empty body", errors.New("empty body"), nil
	case err != nil:
		return "", nil, err
	case first == '<':
		return "HTML body", errors.New("not JSON"), nil
	case first != '{' && first != '[':
		return "non-JSON body", errors.New("not JSON"), nil
	case first == '[':
		return "JSON body without result", errors.New("not a JSON object"), nil
	}
	what = "JSON body without result"
	dec := json.NewDecoder(br)
	if err := dec.Decode(v); err != nil {
		if isReadError(err) {
			return what, nil, err
		}
		return what, err, nil
	}
	// Unmarshal's rule: nothing but space may follow the object.
	_, err = skipSpace(bufio.NewReader(io.MultiReader(dec.Buffered(), br)))
	switch {
	case err == io.EOF:
		return what, nil, nil
	case err != nil:
		return what, nil, err
	default:
		return what, errors.New("data after the JSON object"), nil
	}
}

func skipSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}
