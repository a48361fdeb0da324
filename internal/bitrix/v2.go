package bitrix

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/b24ops/b24-operator/internal/errclass"
)

// Chatbots 2.0 (imbot.v2.*) share the transport, the limiter, the retry loop and the redaction
// of the v1 methods. What differs is how a webhook caller names its application: v2 takes
// `botToken` (top level, or fields.botToken in Bot.register) where v1 takes CLIENT_ID. Both
// name the same application ("custom" + value), so the client sends its one client id as
// whichever the method expects.

// MaxBotTokenLength is the longest botToken imbot.v2 accepts: since 2026-08-06 Bot.register
// (and token rotation through Bot.update) refuse a longer one with BOT_TOKEN_INVALID_LENGTH.
const MaxBotTokenLength = 40

// MinV2Revision is the first REST revision (imbot.v2.Revision.get `rest`) that has the Bot.*
// and Command.* methods this package calls.
const MinV2Revision = 33

const v2Prefix = "imbot.v2."

// isV2 reports whether method is an imbot.v2 method (method names are case-insensitive).
func isV2(method string) bool {
	return len(method) > len(v2Prefix) && strings.EqualFold(method[:len(v2Prefix)], v2Prefix)
}

// v2Methods that take no bot token at all.
var v2Tokenless = []string{"imbot.v2.Revision.get"}

// v2FieldsToken are the v2 methods that take the token inside `fields` instead of top level.
var v2FieldsToken = []string{"imbot.v2.Bot.register"}

func methodIn(method string, list []string) bool {
	return slices.ContainsFunc(list, func(m string) bool { return strings.EqualFold(m, method) })
}

// addIdentity adds the webhook caller's application to the parameters of one call (or one
// batch command): CLIENT_ID for v1 imbot.* methods and batch, botToken for imbot.v2.* methods.
// An OAuth client sends neither: its access token names the application. A value the caller
// already set (token rotation authenticates with the previous token) is kept.
func (c *Client) addIdentity(method string, p map[string]any) {
	if c.clientID == "" {
		return
	}
	switch {
	case isV2(method):
		if methodIn(method, v2Tokenless) || methodIn(method, v2FieldsToken) {
			return // Bot.register carries it in fields (see registerV2Fields)
		}
		if _, set := p["botToken"]; !set {
			p["botToken"] = c.clientID
		}
	case strings.HasPrefix(method, "imbot.") || method == "batch":
		p["CLIENT_ID"] = c.clientID
	}
}

// isRateLimited reports whether an answer is the portal's request-rate limit: 503
// QUERY_LIMIT_EXCEEDED (the general REST limits page) or any HTTP 429 other than the per-method
// OPERATION_TIME_LIMIT (the imbot.v2 pages say "HTTP 429, use exponential backoff" without
// naming a code). Both are refused before the method runs, so a repeat is always safe.
func isRateLimited(status int, e *Error) bool {
	if e.Is(ErrQueryLimitExceeded) {
		return true
	}
	return status == http.StatusTooManyRequests && !e.Is(ErrOperationTimeLimit)
}

// ValidateBotToken checks a webhook client id for use as an imbot.v2 botToken: not empty, not
// only spaces, and at most MaxBotTokenLength characters. The error never contains the token.
func ValidateBotToken(token string) error {
	n := utf8.RuneCountInString(token)
	switch {
	case strings.TrimSpace(token) == "":
		return &Error{Code: ErrBotTokenNotSpecified.Code, Description: "the bot token (webhook client id) is empty"}
	case n > MaxBotTokenLength:
		return &Error{Code: ErrBotTokenInvalidLength.Code, Description: fmt.Sprintf(
			"the bot token (webhook client id) has %d characters; imbot.v2 accepts at most %d", n, MaxBotTokenLength)}
	}
	return nil
}

// checkToken refuses, before anything is sent, a v2 call that would register a bot (or rotate
// to a token) Bitrix would refuse for its length.
func (c *Client) checkToken(method, token string) error {
	if c.oauth != nil {
		return nil // OAuth sends no token
	}
	if err := ValidateBotToken(token); err != nil {
		e := err.(*Error)
		e.Method = method
		return e
	}
	return nil
}

// Revision is imbot.v2.Revision.get: the portal's API revisions.
type Revision struct {
	REST    int // the server REST API revision: the one that tells which methods exist
	Web     int
	Mobile  int
	Desktop int
}

// HasV2 reports whether the portal has the imbot.v2 methods this package uses.
func (r Revision) HasV2() bool { return r.REST >= MinV2Revision }

// Revision calls imbot.v2.Revision.get (no parameters, any user, no bot token). A portal
// without imbot.v2 (older self-hosted installations) answers ERROR_METHOD_NOT_FOUND, which
// Revision reports as a zero Revision and no error: use HasV2 on the result. Any other failure
// is returned as is.
func (c *Client) Revision(ctx context.Context) (Revision, error) {
	const method = "imbot.v2.Revision.get"
	raw, err := c.call(ctx, method, params{}, idempotent)
	if err != nil {
		if e, ok := asError(err); ok && e.Is(ErrMethodNotFound) {
			return Revision{}, nil
		}
		return Revision{}, fmt.Errorf("read the API revision: %w", err)
	}
	var v struct {
		REST    flexInt `json:"rest"`
		Web     flexInt `json:"web"`
		Mobile  flexInt `json:"mobile"`
		Desktop flexInt `json:"desktop"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Revision{}, fmt.Errorf("read the API revision: %w", decodeError(method, err))
	}
	return Revision{REST: int(v.REST), Web: int(v.Web), Mobile: int(v.Mobile), Desktop: int(v.Desktop)}, nil
}

// decodeV2True checks a v2 result documented as {"result": true} (accepting a bare true too).
func decodeV2True(raw json.RawMessage) error {
	var v struct {
		Result *flexBool `json:"result"`
	}
	if json.Unmarshal(raw, &v) == nil && v.Result != nil {
		if !*v.Result {
			return fmt.Errorf("result is %.40s, want true", raw)
		}
		return nil
	}
	return decodeTrue(raw)
}

// Sentinels of the imbot.v2 methods and of the bot commands (both APIs), for errors.Is.
var (
	// Every v2 bot method.
	ErrBotTokenNotSpecified = sentinel("BOT_TOKEN_NOT_SPECIFIED")
	ErrBotIDRequired        = sentinel("BOT_ID_REQUIRED")
	ErrBotNotFoundV2        = sentinel("BOT_NOT_FOUND") // gone (IsGone)
	ErrBotOwnership         = sentinel("BOT_OWNERSHIP_ERROR")
	ErrParamsRequired       = sentinel("PARAMS_REQUIRED") // Bot.get without botId and code

	// Bot.register and Bot.update.
	ErrBotCodeRequired        = sentinel("BOT_CODE_REQUIRED")
	ErrBotPropertiesRequired  = sentinel("BOT_PROPERTIES_REQUIRED")
	ErrBotCodeTaken           = sentinel("BOT_CODE_ALREADY_TAKEN") // another application (or a previous installation) owns the code
	ErrBotInvalidType         = sentinel("BOT_INVALID_TYPE")
	ErrBotInvalidEventMode    = sentinel("BOT_INVALID_EVENT_MODE")
	ErrBotWebhookURLRequired  = sentinel("BOT_WEBHOOK_URL_REQUIRED")
	ErrBotInvalidCallback     = sentinel("BOT_INVALID_CALLBACK")
	ErrBotLimitExceeded       = sentinel("BOT_LIMIT_EXCEEDED") // the v2 counterpart of MAX_COUNT_ERROR
	ErrBotAvatarIncorrectType = sentinel("BOT_AVATAR_INCORRECT_TYPE")
	ErrBotAvatarIncorrectSize = sentinel("BOT_AVATAR_INCORRECT_SIZE")
	ErrBotTokenInvalidLength  = sentinel("BOT_TOKEN_INVALID_LENGTH")
	ErrBotTokenRotationFailed = sentinel("BOT_TOKEN_ROTATION_FAILED")
	ErrBotRegisterFailed      = sentinel("BOT_REGISTER_FAILED")
	ErrBotUnregisterFailed    = sentinel("BOT_UNREGISTER_FAILED")

	// imbot.v2.Command.*.
	ErrCommandRequired       = sentinel("COMMAND_REQUIRED")
	ErrCommandNameInvalid    = sentinel("COMMAND_NAME_INVALID")
	ErrCommandNameEmpty      = sentinel("COMMAND_NAME_EMPTY")
	ErrCommandTitleRequired  = sentinel("COMMAND_TITLE_REQUIRED")
	ErrCommandRegisterFailed = sentinel("COMMAND_REGISTER_FAILED")
	ErrCommandNotFound       = sentinel("COMMAND_NOT_FOUND") // gone, or not this application's (IsGone)
	ErrCommandAlreadyExists  = sentinel("COMMAND_ALREADY_EXISTS")

	// imbot.command.* (v1).
	ErrCommandError         = sentinel("COMMAND_ERROR")
	ErrCommandIDError       = sentinel("COMMAND_ID_ERROR") // gone (IsGone)
	ErrEventCommandAddError = sentinel("EVENT_COMMAND_ADD_ERROR")
)

// The classes of the codes above join the shared table: the "not found" answers of deletes
// are gone, every other code is a judged, terminal domain error whatever its HTTP status.
func init() {
	for _, s := range []*Error{ErrBotNotFoundV2, ErrCommandNotFound, ErrCommandIDError} {
		classes[strings.ToUpper(s.Code)] = errClass{gone: true}
	}
	for _, s := range []*Error{
		ErrBotTokenNotSpecified, ErrBotIDRequired, ErrBotOwnership, ErrParamsRequired,
		ErrBotCodeRequired, ErrBotPropertiesRequired, ErrBotCodeTaken, ErrBotInvalidType,
		ErrBotInvalidEventMode, ErrBotWebhookURLRequired, ErrBotInvalidCallback,
		ErrBotAvatarIncorrectType, ErrBotAvatarIncorrectSize, ErrBotTokenInvalidLength,
		ErrBotTokenRotationFailed, ErrBotRegisterFailed, ErrBotUnregisterFailed,
		ErrCommandRequired, ErrCommandNameInvalid, ErrCommandNameEmpty, ErrCommandTitleRequired,
		ErrCommandRegisterFailed, ErrCommandAlreadyExists, ErrCommandError, ErrEventCommandAddError,
	} {
		classes[strings.ToUpper(s.Code)] = errClass{}
	}
	// Like v1's MAX_COUNT_ERROR.
	classes[strings.ToUpper(ErrBotLimitExceeded.Code)] = errClass{reason: errclass.BotLimitExceeded}
}

// addKnown adds secrets learnt after New (the tokens of a rotation) once each.
func (r *redactor) addKnown(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if usable(s) && !slices.Contains(r.fixed, s) {
			r.fixed = append(r.fixed, s)
		}
	}
	slices.SortFunc(r.fixed, func(a, b string) int { return len(b) - len(a) })
}
