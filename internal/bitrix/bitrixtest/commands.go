package bitrixtest

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Command is a bot's slash command, registered through either API.
type Command struct {
	ID      int
	BotID   int
	App     string // the owning application (the bot's)
	API     string // APIV1 or APIV2: the API that registered it
	Command string // without the leading "/"
	Common  bool
	Hidden  bool
	// ExtranetSupport makes the command usable by extranet users.
	ExtranetSupport bool
	// Titles and Params by language. Every language is kept; imbot.v2.Command.list shows only
	// the portal's.
	Titles map[string]string
	Params map[string]string
	// Handler is the EVENT_COMMAND_ADD the v1 command was last registered or updated with.
	Handler string
}

// Commands returns every command, by id.
func (p *Portal) Commands() []Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Command, 0, len(p.commands))
	for _, c := range p.commands {
		cp := *c
		cp.Titles, cp.Params = maps.Clone(c.Titles), maps.Clone(c.Params)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CommandHandler returns the URL an application's ONIMCOMMANDADD is bound to (v1): the
// EVENT_COMMAND_ADD of its latest imbot.command.register or update, with ?CLIENT_ID=<id>
// appended for a webhook application.
func (p *Portal) CommandHandler(app string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.commandHandlers[app]
}

// DeleteCommandRemotely deletes a command the way a portal administrator would. It reports
// whether the command existed.
func (p *Portal) DeleteCommandRemotely(id int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.commands[id]
	delete(p.commands, id)
	return ok
}

// EventGetCount returns how many imbot.v2.Event.get calls reached the portal (batch commands
// included). The operator must never make one: it acknowledges the bot's events.
func (p *Portal) EventGetCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eventGets
}

func (p *Portal) commandByName(botID int, name string) *Command {
	for _, c := range p.commands {
		if c.BotID == botID && strings.EqualFold(c.Command, name) {
			return c
		}
	}
	return nil
}

func (p *Portal) addCommand(c *Command) *Command {
	c.ID = p.nextCommandID
	p.nextCommandID++
	p.commands[c.ID] = c
	return c
}

// ---- v1: imbot.command.* ----

// v1CommandRe is COMMAND as the v1 docs allow it: Latin letters and digits, no spaces or other
// characters.
var v1CommandRe = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// bindCommandHandler re-binds the application's one command handler to url: every v1
// register and update does, so all of an application's commands share the latest URL.
func (p *Portal) bindCommandHandler(c *call, handler string) {
	if id, webhook := strings.CutPrefix(c.app, "custom"); webhook && c.caller.clientID == "" {
		sep := "?"
		if strings.Contains(handler, "?") {
			sep = "&"
		}
		handler += sep + "CLIENT_ID=" + url.QueryEscape(id)
	}
	p.commandHandlers[c.app] = handler
}

// readLang reads a v1 LANG list: [{LANGUAGE_ID, TITLE, PARAMS}], each with an id and a title.
func readLang(v any) (titles, par map[string]string, ok bool) {
	titles, par = map[string]string{}, map[string]string{}
	for _, e := range listOf(v) {
		l := mapOf(e)
		if l == nil || l.str("LANGUAGE_ID") == "" || l.str("TITLE") == "" {
			return nil, nil, false
		}
		titles[l.str("LANGUAGE_ID")] = l.str("TITLE")
		if pr := l.str("PARAMS"); pr != "" {
			par[l.str("LANGUAGE_ID")] = pr
		}
	}
	return titles, par, len(titles) > 0
}

func (p *Portal) commandRegister(c *call) (any, *apiError) {
	b, e := p.ownBot(c)
	if e != nil {
		return nil, e
	}
	name := strings.TrimPrefix(strings.TrimSpace(c.params.str("COMMAND")), "/")
	if name == "" || !v1CommandRe.MatchString(name) {
		return nil, bad("COMMAND_ERROR", "Command isn't specified")
	}
	handler := c.params.str("EVENT_COMMAND_ADD")
	if handler == "" || !validURL(handler) {
		return nil, bad("EVENT_COMMAND_ADD_ERROR", "Handler for \"Command add\" event isn't specified")
	}
	titles, par, ok := readLang(c.params["LANG"])
	if !ok {
		return nil, bad("LANG_ERROR", "Lang set can't be empty")
	}
	// One handler per application, re-bound by every call, a repeat included.
	p.bindCommandHandler(c, handler)
	if existing := p.commandByName(b.ID, name); existing != nil {
		// Same (BOT_ID, COMMAND): the existing command, not updated.
		return existing.ID, nil
	}
	cmd := p.addCommand(&Command{
		BotID: b.ID, App: c.app, API: APIV1, Command: name, Handler: handler,
		Common: c.params.flag("COMMON"), Hidden: c.params.flag("HIDDEN"),
		ExtranetSupport: c.params.flag("EXTRANET_SUPPORT"), Titles: titles, Params: par,
	})
	return cmd.ID, nil
}

// ownCommand finds COMMAND_ID among the caller's commands (v1).
func (p *Portal) ownCommand(c *call) (*Command, *apiError) {
	id, _ := c.params.int("COMMAND_ID")
	cmd, ok := p.commands[id]
	if !ok {
		return nil, bad("COMMAND_ID_ERROR", "Command not found")
	}
	if cmd.App != c.app {
		return nil, bad("APP_ID_ERROR", "Command was installed by another rest application")
	}
	return cmd, nil
}

func (p *Portal) commandUpdate(c *call) (any, *apiError) {
	cmd, e := p.ownCommand(c)
	if e != nil {
		return nil, e
	}
	f := c.params.mapOf("FIELDS")
	if len(f) == 0 {
		return nil, bad("WRONG_REQUEST", "Update fields can't be empty")
	}
	next := *cmd
	if v, ok := f["COMMAND"]; ok {
		name := strings.TrimPrefix(strings.TrimSpace(str(v)), "/")
		if name == "" || !v1CommandRe.MatchString(name) {
			return nil, bad("COMMAND_ERROR", "Command isn't specified")
		}
		if other := p.commandByName(cmd.BotID, name); other != nil && other.ID != cmd.ID {
			return nil, bad("WRONG_REQUEST", "Command can't be updated")
		}
		next.Command = name
	}
	if v, ok := f["EVENT_COMMAND_ADD"]; ok {
		if !validURL(str(v)) {
			return nil, bad("EVENT_COMMAND_ADD_ERROR", "Wrong handler URL")
		}
		next.Handler = str(v)
	}
	for k, dst := range map[string]*bool{"HIDDEN": &next.Hidden, "EXTRANET_SUPPORT": &next.ExtranetSupport} {
		if _, ok := f[k]; ok {
			*dst = f.flag(k)
		}
	}
	// COMMON cannot change through update: ignored (unregister and register again).
	if v, ok := f["LANG"]; ok {
		titles, par, ok := readLang(v)
		if !ok {
			return nil, bad("LANG_ERROR", "Lang set can't be empty")
		}
		next.Titles, next.Params = titles, par // replaces every language
	}
	if _, ok := f["EVENT_COMMAND_ADD"]; ok {
		p.bindCommandHandler(c, next.Handler)
	}
	*cmd = next
	return true, nil
}

func (p *Portal) commandUnregister(c *call) (any, *apiError) {
	cmd, e := p.ownCommand(c)
	if e != nil {
		return nil, e
	}
	delete(p.commands, cmd.ID)
	return true, nil
}

// ---- v2: imbot.v2.Command.* ----

// readLangMap reads {lang: text}; with allowNull a null value removes the language (it is
// returned in removed).
func readLangMap(v any, allowNull bool) (set map[string]string, removed []string, ok bool) {
	m := mapOf(v)
	if m == nil {
		return nil, nil, false
	}
	set = map[string]string{}
	for lang, t := range m {
		switch x := t.(type) {
		case string:
			set[lang] = x
		case nil:
			if !allowNull {
				return nil, nil, false
			}
			removed = append(removed, lang)
		default:
			return nil, nil, false
		}
	}
	return set, removed, true
}

func commandV2Object(cmd *Command) map[string]any {
	return map[string]any{
		"id": cmd.ID, "botId": cmd.BotID, "command": "/" + cmd.Command, "common": cmd.Common,
		"hidden": cmd.Hidden, "extranetSupport": cmd.ExtranetSupport,
	}
}

// applyCommandFlags sets common, hidden and extranetSupport present in f.
func applyCommandFlags(cmd *Command, f params) *apiError {
	for k, dst := range map[string]*bool{"common": &cmd.Common, "hidden": &cmd.Hidden, "extranetSupport": &cmd.ExtranetSupport} {
		if v, ok := f[k]; ok {
			val, ok := v2Flag(v)
			if !ok {
				return invalidArg("fields." + k)
			}
			*dst = val
		}
	}
	return nil
}

func (p *Portal) commandRegisterV2(c *call) (any, *apiError) {
	b, e := p.ownBotV2(c)
	if e != nil {
		return nil, e
	}
	f := c.params.mapOf("FIELDS")
	if f == nil {
		// The old flat format lost support on 2026-09-30: without fields there is no command.
		return nil, bad("COMMAND_REQUIRED", "Command is required")
	}
	raw, present := f["command"]
	name, isStr := raw.(string)
	switch {
	case !present || (isStr && strings.TrimSpace(name) == ""):
		return nil, bad("COMMAND_REQUIRED", "Command is required")
	case !isStr:
		return nil, bad("COMMAND_NAME_INVALID", "Command name is invalid")
	}
	name = strings.TrimPrefix(strings.TrimSpace(name), "/")
	cmd := &Command{BotID: b.ID, App: c.app, API: APIV2, Command: name, Titles: map[string]string{}, Params: map[string]string{}}
	if e := applyCommandFlags(cmd, f); e != nil {
		return nil, e
	}
	if v, ok := f["title"]; ok {
		titles, _, ok := readLangMap(v, false)
		if !ok {
			return nil, invalidArg("fields.title")
		}
		cmd.Titles = titles
	}
	if v, ok := f["params"]; ok {
		par, _, ok := readLangMap(v, false)
		if !ok {
			return nil, invalidArg("fields.params")
		}
		cmd.Params = par
	}
	if !cmd.Hidden && len(cmd.Titles) == 0 {
		return nil, bad("COMMAND_TITLE_REQUIRED", "Command title is required")
	}
	if existing := p.commandByName(b.ID, name); existing != nil {
		// Idempotent: the existing command, not updated.
		return map[string]any{"command": commandV2Object(existing)}, nil
	}
	return map[string]any{"command": commandV2Object(p.addCommand(cmd))}, nil
}

// ownCommandV2 finds commandId among botId's commands: COMMAND_NOT_FOUND otherwise (gone, or
// not this application's).
func (p *Portal) ownCommandV2(c *call) (*Bot, *Command, *apiError) {
	b, e := p.ownBotV2(c)
	if e != nil {
		return nil, nil, e
	}
	id, _ := c.params.int("COMMANDID")
	cmd, ok := p.commands[id]
	if !ok || cmd.BotID != b.ID || cmd.App != c.app {
		return nil, nil, bad("COMMAND_NOT_FOUND", "Command not found")
	}
	return b, cmd, nil
}

func (p *Portal) commandUpdateV2(c *call) (any, *apiError) {
	_, cmd, e := p.ownCommandV2(c)
	if e != nil {
		return nil, e
	}
	f := c.params.mapOf("FIELDS")
	next := *cmd
	next.Titles, next.Params = maps.Clone(cmd.Titles), maps.Clone(cmd.Params)
	if v, ok := f["command"]; ok {
		name, isStr := v.(string)
		if !isStr {
			return nil, bad("COMMAND_NAME_INVALID", "Command name is invalid")
		}
		name = strings.TrimPrefix(strings.TrimSpace(name), "/")
		if name == "" {
			return nil, bad("COMMAND_NAME_EMPTY", "Command name is empty")
		}
		if other := p.commandByName(cmd.BotID, name); other != nil && other.ID != cmd.ID {
			return nil, bad("COMMAND_ALREADY_EXISTS", "Command already exists")
		}
		next.Command = name
	}
	if e := applyCommandFlags(&next, f); e != nil {
		return nil, e
	}
	var inTitle []string
	if v, ok := f["title"]; ok {
		// A string sets the language, null removes it, an absent key leaves it.
		set, removed, ok := readLangMap(v, true)
		if !ok {
			return nil, invalidArg("fields.title")
		}
		for lang, t := range set {
			next.Titles[lang] = t
			inTitle = append(inTitle, lang)
		}
		for _, lang := range removed {
			delete(next.Titles, lang)
			delete(next.Params, lang)
		}
	}
	if v, ok := f["params"]; ok {
		par, removed, ok := readLangMap(v, true)
		if !ok {
			return nil, invalidArg("fields.params")
		}
		// params apply only to the languages given in title.
		for lang, t := range par {
			if slices.Contains(inTitle, lang) {
				next.Params[lang] = t
			}
		}
		for _, lang := range removed {
			if slices.Contains(inTitle, lang) {
				delete(next.Params, lang)
			}
		}
	}
	*cmd = next
	return map[string]any{"command": commandV2Object(cmd)}, nil
}

// commandText is a command's text in the portal's language, falling back to English.
func (p *Portal) commandText(m map[string]string) string {
	if t, ok := m[p.cfg.v2.language]; ok {
		return t
	}
	return m["en"]
}

func (p *Portal) commandListV2(c *call) (any, *apiError) {
	b, e := p.ownBotV2(c)
	if e != nil {
		return nil, e
	}
	var own []*Command
	for _, cmd := range p.commands {
		if cmd.BotID == b.ID {
			own = append(own, cmd)
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].ID < own[j].ID })
	out := []any{}
	for _, cmd := range own {
		o := commandV2Object(cmd)
		// Only the portal's language can be read back.
		o["title"], o["params"] = p.commandText(cmd.Titles), p.commandText(cmd.Params)
		o["category"], o["context"] = fullName(b.Properties), ""
		out = append(out, o)
	}
	return map[string]any{"commands": out}, nil
}

func (p *Portal) commandUnregisterV2(c *call) (any, *apiError) {
	_, cmd, e := p.ownCommandV2(c)
	if e != nil {
		return nil, e
	}
	delete(p.commands, cmd.ID)
	return map[string]any{"result": true}, nil
}
