package bitrixtest

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// Call is one logged REST call (a batch command is logged as its own call, with BatchKey).
type Call struct {
	Method string
	// App is the application the call acted as: the OAuth client id or "custom"+CLIENT_ID; ""
	// before authentication or without CLIENT_ID.
	App string
	// Params are the parameters as the portal read them (top-level keys upper case), without
	// `auth`.
	Params    map[string]any
	Status    int    // HTTP status (200 for a batch command that succeeded)
	ErrorCode string // "" on success
	BatchKey  string // the command's key when it ran inside a batch
	Fault     bool   // answered by an injected fault
	Time      time.Time
}

// Handlers are an application's event handler URLs.
type Handlers struct {
	MessageAdd     string
	WelcomeMessage string
	BotDelete      string
	MessageUpdate  string
	MessageDelete  string
}

// Properties are a bot's PROPERTIES.
type Properties struct {
	Name, LastName, Color, Email, Birthday, WorkPosition, Website, Gender string
	Photo                                                                 []byte
}

// Bot is a registered chat bot.
type Bot struct {
	ID         int
	Code       string
	App        string // owning application
	Type       string // B, O, S, H
	Openline   bool
	Properties Properties
	// Handlers are the URLs the bot was last registered or updated with (v1).
	Handlers Handlers

	// API is the API that registered the bot, APIV1 or APIV2, and so the format of its
	// events: form-encoded ONIMBOT* (v1) or camelCase JSON ONIMBOTV2* (v2).
	API string
	// EventMode (fetch or webhook) and WebhookURL are the v2 event delivery; empty for v1 bots.
	EventMode  string
	WebhookURL string
	// The v2 flags and chat background ("" for none).
	Hidden           bool
	ReactionsEnabled bool
	SupportOpenline  bool
	BackgroundID     string
}

// App is a chat app (imbot.app.*).
type App struct {
	ID              int
	BotID           int
	Code            string
	App             string // owning application
	JSMethod        string
	JSParam         string
	Iframe          string
	IframeWidth     int
	IframeHeight    int
	Hash            string
	IframePopup     bool
	Icon            []byte
	Context         string
	Hidden          bool
	ExtranetSupport bool
	LivechatSupport bool
	Lang            []Lang
}

// Lang is a chat app's LANG entry.
type Lang struct {
	LanguageID, Title, Description, Copyright string
}

// Chat is a group chat.
type Chat struct {
	ID          int
	Type        string // CHAT or OPEN
	EntityType  string
	EntityID    string
	Title       string
	Description string
	Color       string // colour name (RED...); imbot.dialog.get reports it as hex
	Owner       int
	Members     []int // sorted
	Avatar      []byte
	BotID       int    // the bot that created it
	App         string // the application of that bot
	Message     string // the welcome message
	Created     time.Time
}

func (p *Portal) record(c Call) {
	c.Time = time.Now()
	p.calls = append(p.calls, c)
}

// Calls returns every logged call, oldest first.
func (p *Portal) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// CallCount returns how many calls of method were logged (batch commands included).
func (p *Portal) CallCount(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if strings.EqualFold(c.Method, method) {
			n++
		}
	}
	return n
}

// ResetCalls empties the call log and the 503 counter.
func (p *Portal) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	p.count503 = 0
}

// Count503 returns how many requests the bucket refused with QUERY_LIMIT_EXCEEDED.
func (p *Portal) Count503() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count503
}

// Bots returns the registered bots, by id.
func (p *Portal) Bots() []Bot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Bot, 0, len(p.bots))
	for _, b := range p.bots {
		c := *b
		c.Properties.Photo = slices.Clone(b.Properties.Photo)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Apps returns the chat apps, by id.
func (p *Portal) Apps() []App {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]App, 0, len(p.apps))
	for _, a := range p.apps {
		c := *a
		c.Icon = slices.Clone(a.Icon)
		c.Lang = slices.Clone(a.Lang)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Chats returns the group chats, by id.
func (p *Portal) Chats() []Chat {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Chat, 0, len(p.chats))
	for _, ch := range p.chats {
		out = append(out, cloneChat(ch))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Chat returns one chat.
func (p *Portal) Chat(id int) (Chat, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.chats[id]
	if !ok {
		return Chat{}, false
	}
	return cloneChat(ch), true
}

func cloneChat(ch *Chat) Chat {
	c := *ch
	c.Members = slices.Clone(ch.Members)
	c.Avatar = slices.Clone(ch.Avatar)
	return c
}

// AppHandlers returns the event handlers bound for an application ("custom"+CLIENT_ID or the
// OAuth client id).
func (p *Portal) AppHandlers(app string) Handlers {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appHandlers[app]
}

// DeleteBotRemotely deletes a bot the way a portal administrator would, with the same cascade
// as imbot.unregister. It reports whether the bot existed.
func (p *Portal) DeleteBotRemotely(id int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.bots[id]; !ok {
		return false
	}
	p.deleteBot(id)
	return true
}

// AddChatMember adds a user to a chat the way a person in the messenger would (for drift
// tests). It reports whether the chat exists.
func (p *Portal) AddChatMember(chatID, userID int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.chats[chatID]
	if !ok {
		return false
	}
	ch.addMember(userID)
	return true
}

// SetChatTitle changes a chat's title behind the operator's back (for drift tests).
func (p *Portal) SetChatTitle(chatID int, title string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.chats[chatID]
	if ok {
		ch.Title = title
	}
	return ok
}

func (p *Portal) deleteBot(id int) {
	delete(p.bots, id)
	// Unregistering cascades to the bot's chat apps and commands (and personal chats).
	for appID, a := range p.apps {
		if a.BotID == id {
			delete(p.apps, appID)
		}
	}
	for cmdID, cmd := range p.commands {
		if cmd.BotID == id {
			delete(p.commands, cmdID)
		}
	}
	// A deleted bot is a deleted user: it no longer shows among chat members.
	for _, ch := range p.chats {
		ch.removeMember(id)
	}
}

func (ch *Chat) isMember(id int) bool { return slices.Contains(ch.Members, id) }

func (ch *Chat) addMember(id int) {
	if id <= 0 || ch.isMember(id) {
		return
	}
	ch.Members = append(ch.Members, id)
	slices.Sort(ch.Members)
}

func (ch *Chat) removeMember(id int) {
	ch.Members = slices.DeleteFunc(ch.Members, func(m int) bool { return m == id })
}
