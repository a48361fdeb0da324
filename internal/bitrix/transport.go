package bitrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/b24ops/b24-operator/internal/outbound"
)

// codeEgressRefused is a call the operator's outbound policy refused (see WithOutboundPolicy).
const codeEgressRefused = "EGRESS_REFUSED"

// answer is what one HTTP request brought back: a decoded Bitrix answer (res or remote), or
// the location of a redirect.
type answer struct {
	status int
	res    response
	remote *Error
	loc    *url.URL
}

// readAnswer decodes resp's body as it streams in, within the size cap and the client's share
// of the response budget. It never holds more than the cap of one answer.
func (c *Client) readAnswer(ctx context.Context, method string, resp *http.Response) (answer, error) {
	ans := answer{status: resp.StatusCode}
	tooLarge := func() (answer, error) {
		return answer{}, &Error{Code: codeResponseTooLarge, Method: method, HTTPStatus: resp.StatusCode,
			Description: (&outbound.TooLargeError{Limit: c.maxResponseBytes}).Error()}
	}
	if resp.ContentLength > c.maxResponseBytes {
		return tooLarge()
	}
	release, err := c.budget.Acquire(ctx, outbound.Share(resp.ContentLength, c.maxResponseBytes))
	if err != nil {
		return answer{}, ctxError(method, err)
	}
	defer release()
	res, remote, err := decodeStream(resp.StatusCode, outbound.LimitReader(resp.Body, c.maxResponseBytes))
	var tl *outbound.TooLargeError
	switch {
	case errors.As(err, &tl):
		return tooLarge()
	case err != nil && ctx.Err() != nil:
		return answer{}, ctxError(method, ctx.Err())
	case err != nil:
		return answer{}, c.networkError(method, err)
	}
	ans.res, ans.remote = res, remote
	return ans, nil
}

// redirectTarget reads a redirect's location. Only a move to https on the same host is
// followed (a portal upgrading http to https); any other host gets an error telling the user
// to update spec.url: following it would hand the webhook code (in the path) or the access
// token (in the body) to whoever answered the redirect.
func (c *Client) redirectTarget(method string, resp *http.Response) (*url.URL, error) {
	loc, err := resp.Location()
	if err != nil || loc.Host == "" || (loc.Scheme != "https" && loc.Scheme != "http") {
		return nil, &Error{Code: codeTooManyRedirect, Method: method, HTTPStatus: resp.StatusCode,
			Description: "the portal answered a redirect without an absolute location"}
	}
	c.mu.Lock()
	base := c.base
	c.mu.Unlock()
	if !strings.EqualFold(loc.Host, base.Host) {
		return nil, &Error{Code: codeTooManyRedirect, Method: method, HTTPStatus: resp.StatusCode,
			Description: fmt.Sprintf("the portal moved to %s; update spec.url (redirects to another host are not followed)", safeHost(loc.Host))}
	}
	return loc, nil
}

var hostSafe = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]{1,253}$`)

// safeHost quotes a host name the remote side chose only when it looks like one.
func safeHost(h string) string {
	if hostSafe.MatchString(h) {
		return h
	}
	return "another host"
}

// networkError wraps a transport failure without its text: the cause's message names
// addresses and ports (and, for TLS, the certificate's names), so the description is one of
// outbound.Describe's fixed phrases. The cause stays reachable with errors.Is / errors.As.
// It also decides whether the request may have reached Bitrix.
func (c *Client) networkError(method string, err error) *Error {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	code := codeNetwork
	if errors.Is(cause, outbound.ErrRefused) {
		// The operator's own policy: repeating cannot help, only a spec or policy change.
		code = codeEgressRefused
	}
	var op *net.OpError
	notSent := (errors.As(cause, &op) && op.Op == "dial") || errors.Is(cause, outbound.ErrRefused)
	return &Error{
		Code:        code,
		Method:      method,
		Description: outbound.Describe(cause),
		Ambiguous:   !notSent,
		cause:       cause,
	}
}

// remoteText makes a text the remote side wrote fit for a message: the credentials the client
// knows are redacted first (a cut could split one), then it is cut to one line of at most
// outbound.MaxMessageRunes characters.
func (c *Client) remoteText(s string) string {
	return outbound.OneLine(c.secrets.redact(s))
}

// remoteCode keeps a code the remote side sent usable in a message: Bitrix codes are short
// identifiers; anything else is cut like a description.
func remoteCode(code string) string {
	if labelSafe.MatchString(code) {
		return code
	}
	code = outbound.OneLine(code)
	if r := []rune(code); len(r) > 64 {
		code = string(r[:63]) + "…"
	}
	return code
}

// sanitizeRemote applies remoteText and remoteCode to an error decoded from an answer.
func (c *Client) sanitizeRemote(e *Error) {
	e.Code = remoteCode(c.secrets.redact(e.Code))
	e.Description = c.remoteText(e.Description)
}

// describeDecode says why a result did not decode without quoting it: the result is the
// remote side's text and may echo anything (the webhook code included). Only what the client
// itself knows (the field and the type it expected) is named.
func describeDecode(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("field %s is not a %s", typ.Field, typ.Type)
	case errors.As(err, &typ):
		return fmt.Sprintf("the result is not a %s", typ.Type)
	case errors.As(err, &syn):
		return "the result is not valid JSON"
	default:
		return "the result does not have the documented shape"
	}
}
