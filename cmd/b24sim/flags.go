package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Defaults used when no credential flag of a kind is given, so that `go run ./cmd/b24sim`
// serves both APIs with something to call.
const (
	defaultWebhook    = "1/b24simwebhook"
	defaultMetabotBot = "1=b24simtoken"
)

type webhook struct {
	userID int
	code   string
}

type oauthApp struct {
	clientID, secret string
}

type metabotBot struct {
	id    int64
	token string
}

type config struct {
	listen    string
	publicURL string
	certDir   string
	sans      []string
	readyFile string

	webhooks    []webhook
	oauthApps   []oauthApp
	metabotBots []metabotBot

	rateBurst            int
	ratePerSecond        float64
	maxBots              int
	metabotRatePerSecond float64
	metabotRateBurst     int
	metabotAPIPath       string

	noV2                bool
	noV2Batch           bool
	maxBotsV2           int
	rateLimitStatus     int
	portalLanguage      string
	sharedTokenRotation bool

	failRate float64
	latency  time.Duration
	quiet    bool
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var sans, webhooks, apps, bots listFlag
	fs := flag.NewFlagSet("b24sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: b24sim [flags]\n\n"+
			"Serves a simulated Bitrix24 portal (/rest/, /oauth/token/; imbot v1 and imbot.v2) and a\n"+
			"simulated Metabot (/api/v1/) on one HTTPS listener, plus GET /_sim/state (JSON, no secrets:\n"+
			"bots with the API that registered them and their event mode, chat apps, chats, commands,\n"+
			"Event.get calls, recent calls).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8443", "HTTPS listen address (port 0 picks a free port)")
	fs.StringVar(&c.publicURL, "public-url", "", "base URL clients use, in webhook URLs and credentials.json (default: https://<listen address>)")
	fs.StringVar(&c.certDir, "cert-dir", "", "directory for ca.crt, ca.key, tls.crt, tls.key and credentials.json; reused across runs (default: a new temporary directory)")
	fs.Var(&sans, "san", "extra DNS name or IP for the server certificate (repeatable)")
	fs.StringVar(&c.readyFile, "ready-file", "", "file to write the base URL to once listening (removed on exit)")
	fs.Var(&webhooks, "webhook", "Bitrix24 inbound webhook USER_ID/CODE (repeatable; default "+defaultWebhook+")")
	fs.Var(&apps, "oauth-app", "Bitrix24 OAuth application CLIENT_ID:SECRET (repeatable); its tokens go to credentials.json")
	fs.Var(&bots, "metabot-bot", "Metabot bot ID=TOKEN (repeatable; default "+defaultMetabotBot+")")
	fs.IntVar(&c.rateBurst, "rate-burst", 50, "Bitrix24 leaky bucket size")
	fs.Float64Var(&c.ratePerSecond, "rate-per-second", 2, "Bitrix24 leaky bucket drain rate; 0 turns the limit off")
	fs.IntVar(&c.maxBots, "max-bots", 5, "Bitrix24 bots per application (v1 imbot.register, MAX_COUNT_ERROR)")
	fs.IntVar(&c.maxBotsV2, "max-bots-v2", 100, "Bitrix24 bots per application for imbot.v2.Bot.register (BOT_LIMIT_EXCEEDED)")
	fs.BoolVar(&c.noV2, "no-v2", false, "run as a portal without imbot.v2 (every imbot.v2.* method answers ERROR_METHOD_NOT_FOUND)")
	fs.BoolVar(&c.noV2Batch, "no-v2-batch", false, "refuse imbot.v2 commands inside batch (ERROR_BATCH_METHOD_NOT_ALLOWED)")
	fs.IntVar(&c.rateLimitStatus, "rate-limit-status", 503, "HTTP status of the leaky bucket's QUERY_LIMIT_EXCEEDED: 503 or 429")
	fs.StringVar(&c.portalLanguage, "portal-language", "en", "portal language: the only one imbot.v2.Command.list reads back")
	fs.BoolVar(&c.sharedTokenRotation, "shared-token-rotation", false, "let several bots rotate onto one new botToken (default: BOT_TOKEN_ROTATION_FAILED)")
	fs.Float64Var(&c.metabotRatePerSecond, "metabot-rate-per-second", 0, "Metabot requests per second per bot (429 with Retry-After above it); 0 = unlimited")
	fs.IntVar(&c.metabotRateBurst, "metabot-rate-burst", 10, "Metabot burst per bot")
	fs.StringVar(&c.metabotAPIPath, "metabot-api-path", "/api/v1", "Metabot API root")
	fs.Float64Var(&c.failRate, "fail-rate", 0, "probability (0..1) that an API request is answered 500 before it is processed")
	fs.DurationVar(&c.latency, "latency", 0, "delay added before every API request")
	fs.BoolVar(&c.quiet, "quiet", false, "do not log every request")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.sans = sans

	if len(webhooks) == 0 {
		webhooks = listFlag{defaultWebhook}
	}
	for _, v := range webhooks {
		user, code, ok := strings.Cut(v, "/")
		id, err := strconv.Atoi(user)
		if !ok || err != nil || id <= 0 || code == "" || strings.Contains(code, "/") {
			return config{}, fmt.Errorf("--webhook %q: want USER_ID/CODE", v)
		}
		c.webhooks = append(c.webhooks, webhook{userID: id, code: code})
	}
	for _, v := range apps {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return config{}, errors.New("--oauth-app: want CLIENT_ID:SECRET")
		}
		c.oauthApps = append(c.oauthApps, oauthApp{clientID: id, secret: secret})
	}
	if len(bots) == 0 {
		bots = listFlag{defaultMetabotBot}
	}
	for _, v := range bots {
		idStr, token, ok := strings.Cut(v, "=")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if !ok || err != nil || id <= 0 || token == "" {
			// The value holds a token: name the bot, not the value.
			return config{}, fmt.Errorf("--metabot-bot for bot %q: want ID=TOKEN", idStr)
		}
		c.metabotBots = append(c.metabotBots, metabotBot{id: id, token: token})
	}
	switch {
	case c.failRate < 0 || c.failRate > 1:
		return config{}, errors.New("--fail-rate must be between 0 and 1")
	case c.latency < 0:
		return config{}, errors.New("--latency must not be negative")
	case c.rateBurst < 1 && c.ratePerSecond > 0:
		return config{}, errors.New("--rate-burst must be at least 1")
	case c.ratePerSecond < 0 || c.metabotRatePerSecond < 0:
		return config{}, errors.New("rates must not be negative")
	case c.maxBots < 1 || c.maxBotsV2 < 1:
		return config{}, errors.New("--max-bots and --max-bots-v2 must be at least 1")
	case c.rateLimitStatus != 503 && c.rateLimitStatus != 429:
		return config{}, errors.New("--rate-limit-status must be 503 or 429")
	case c.portalLanguage == "":
		return config{}, errors.New("--portal-language must not be empty")
	}
	return c, nil
}
