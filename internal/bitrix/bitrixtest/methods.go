package bitrixtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// call is one method invocation: who, as which application, with what.
type call struct {
	caller *caller
	app    string // owning application of imbot.* calls
	params params
}

type methodSpec struct {
	name  string // canonical spelling, for the call log
	scope string
	fn    func(p *Portal, c *call) (any, *apiError)
}

// methods are keyed by lower-case name: Bitrix method names are case-insensitive.
var methods map[string]methodSpec

// canonicalMethod returns the documented spelling of a method name.
func canonicalMethod(m string) string {
	if spec, ok := methods[strings.ToLower(m)]; ok {
		return spec.name
	}
	return m
}

func init() {
	specs := map[string]methodSpec{
		"scope":    {fn: func(p *Portal, c *call) (any, *apiError) { return slices.Clone(p.cfg.scopes), nil }},
		"app.info": {fn: func(p *Portal, c *call) (any, *apiError) { return p.appInfo(c.caller), nil }},
		"batch":    {}, // handled in run

		"imbot.register":   {scope: "imbot", fn: (*Portal).register},
		"imbot.update":     {scope: "imbot", fn: (*Portal).update},
		"imbot.unregister": {scope: "imbot", fn: (*Portal).unregister},
		"imbot.bot.list":   {scope: "imbot", fn: (*Portal).botList},

		"imbot.app.register":   {scope: "imbot", fn: (*Portal).appRegister},
		"imbot.app.update":     {scope: "imbot", fn: (*Portal).appUpdate},
		"imbot.app.unregister": {scope: "imbot", fn: (*Portal).appUnregister},

		"imbot.chat.add":          {scope: "imbot", fn: (*Portal).chatAdd},
		"imbot.chat.get":          {scope: "imbot", fn: (*Portal).chatGet},
		"imbot.dialog.get":        {scope: "imbot", fn: (*Portal).dialogGet},
		"imbot.chat.updateTitle":  {scope: "imbot", fn: (*Portal).chatUpdateTitle},
		"imbot.chat.updateColor":  {scope: "imbot", fn: (*Portal).chatUpdateColor},
		"imbot.chat.updateAvatar": {scope: "imbot", fn: (*Portal).chatUpdateAvatar},
		"imbot.chat.setOwner":     {scope: "imbot", fn: (*Portal).chatSetOwner},
		"imbot.chat.leave":        {scope: "imbot", fn: (*Portal).chatLeave},
		"imbot.chat.user.list":    {scope: "imbot", fn: (*Portal).chatUserList},
		"imbot.chat.user.add":     {scope: "imbot", fn: (*Portal).chatUserAdd},
		"imbot.chat.user.delete":  {scope: "imbot", fn: (*Portal).chatUserDelete},
	}
	maps.Copy(specs, v2Specs) // imbot.v2.* and the command methods (v2.go, commands.go)
	methods = make(map[string]methodSpec, len(specs))
	for name, spec := range specs {
		spec.name = name
		methods[strings.ToLower(name)] = spec
	}
}

// ---- bots ----

var botTypes = map[string]bool{"B": true, "O": true, "S": true, "H": true}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// handlerFields lists the handler parameters and the error each answers when missing.
var handlerFields = []struct {
	key, errCode, event string
	required            bool
}{
	{"EVENT_MESSAGE_ADD", "EVENT_MESSAGE_ADD_ERROR", "Message add", true},
	{"EVENT_WELCOME_MESSAGE", "EVENT_WELCOME_MESSAGE_ERROR", "Welcome message", true},
	{"EVENT_BOT_DELETE", "EVENT_BOT_DELETE_ERROR", "Bot delete", true},
	{"EVENT_MESSAGE_UPDATE", "", "Message update", false},
	{"EVENT_MESSAGE_DELETE", "", "Message delete", false},
}

// readHandlers reads EVENT_HANDLER (copied to every event) or the separate handlers, on top of
// base. required demands the three mandatory ones (registration).
func readHandlers(ps params, base Handlers, required bool) (Handlers, *apiError) {
	vals := map[string]string{
		"EVENT_MESSAGE_ADD": base.MessageAdd, "EVENT_WELCOME_MESSAGE": base.WelcomeMessage,
		"EVENT_BOT_DELETE": base.BotDelete, "EVENT_MESSAGE_UPDATE": base.MessageUpdate,
		"EVENT_MESSAGE_DELETE": base.MessageDelete,
	}
	if all := ps.str("EVENT_HANDLER"); all != "" {
		for k := range vals {
			vals[k] = all
		}
	} else {
		for _, f := range handlerFields {
			if v := ps.str(f.key); v != "" {
				vals[f.key] = v
			}
		}
	}
	for _, f := range handlerFields {
		v := vals[f.key]
		if f.errCode == "" {
			continue
		}
		if (required && v == "") || (v != "" && !validURL(v)) {
			return Handlers{}, bad(f.errCode, fmt.Sprintf("Handler for \"%s\" event isn't specified", f.event))
		}
	}
	return Handlers{
		MessageAdd: vals["EVENT_MESSAGE_ADD"], WelcomeMessage: vals["EVENT_WELCOME_MESSAGE"],
		BotDelete: vals["EVENT_BOT_DELETE"], MessageUpdate: vals["EVENT_MESSAGE_UPDATE"],
		MessageDelete: vals["EVENT_MESSAGE_DELETE"],
	}, nil
}

func anyHandler(ps params) bool {
	if ps.str("EVENT_HANDLER") != "" {
		return true
	}
	for _, f := range handlerFields {
		if ps.str(f.key) != "" {
			return true
		}
	}
	return false
}

// applyProperties sets the PROPERTIES present in props onto base.
func applyProperties(base Properties, props params) Properties {
	set := func(dst *string, k string) {
		if v, ok := props[k]; ok {
			*dst = str(v)
		}
	}
	set(&base.Name, "NAME")
	set(&base.LastName, "LAST_NAME")
	set(&base.Color, "COLOR")
	set(&base.Email, "EMAIL")
	set(&base.Birthday, "PERSONAL_BIRTHDAY")
	set(&base.WorkPosition, "WORK_POSITION")
	set(&base.Website, "PERSONAL_WWW")
	set(&base.Gender, "PERSONAL_GENDER")
	if v, ok := props["PERSONAL_PHOTO"]; ok {
		// Like Bitrix, an image that does not decode is ignored.
		if b, ok := decodeBase64(str(v)); ok {
			base.Photo = b
		}
	}
	return base
}

// eventUpdatesApply: message update/delete events go only to S and O bots and open line bots.
func eventUpdatesApply(typ string, openline bool) bool {
	return typ == "S" || typ == "O" || openline
}

func (p *Portal) botCount(app string) int {
	n := 0
	for _, b := range p.bots {
		if b.App == app {
			n++
		}
	}
	return n
}

func (p *Portal) botByCode(code string) *Bot {
	var found *Bot
	for _, b := range p.bots {
		if b.Code == code && (found == nil || b.ID < found.ID) {
			found = b
		}
	}
	return found
}

func (p *Portal) register(c *call) (any, *apiError) {
	ps := c.params
	h, e := readHandlers(ps, Handlers{}, true)
	if e != nil {
		return nil, e
	}
	code := ps.str("CODE")
	if code == "" {
		return nil, bad("CODE_ERROR", "Bot code isn't specified")
	}
	props := applyProperties(Properties{}, ps.mapOf("PROPERTIES"))
	if props.Name == "" && props.LastName == "" {
		return nil, bad("NAME_ERROR", "Bot name isn't specified")
	}
	// Older cloud code counts the application's bots before looking the CODE up, so at the
	// limit even a re-register of an existing CODE fails.
	if p.botCount(c.app) >= p.cfg.maxBots {
		return nil, bad("MAX_COUNT_ERROR", fmt.Sprintf("Has reached the maximum number of bots for application (max: %d)", p.cfg.maxBots))
	}
	typ := strings.ToUpper(ps.str("TYPE"))
	if !botTypes[typ] {
		typ = "B"
	}
	openline := typ == "O" || ps.flag("OPENLINE")
	if !eventUpdatesApply(typ, openline) {
		h.MessageUpdate, h.MessageDelete = "", ""
	}
	if existing := p.botByCode(code); existing != nil {
		// Same CODE: the existing bot, whoever owns it. Nothing is created or updated, but
		// the calling application's handlers are bound to the URLs of this call.
		p.appHandlers[c.app] = h
		if existing.App == c.app {
			existing.Handlers = h
		}
		return existing.ID, nil
	}
	b := &Bot{ID: p.nextBotID, Code: code, App: c.app, API: APIV1, Type: typ, Openline: openline, Properties: props, Handlers: h}
	p.nextBotID++
	p.bots[b.ID] = b
	p.appHandlers[c.app] = h
	return b.ID, nil
}

// ownBot finds BOT_ID among the calling application's bots.
func (p *Portal) ownBot(c *call) (*Bot, *apiError) {
	id, _ := c.params.int("BOT_ID")
	b, ok := p.bots[id]
	if !ok {
		return nil, bad("BOT_ID_ERROR", "Bot not found")
	}
	if b.App != c.app {
		return nil, bad("APP_ID_ERROR", "Bot was installed by another rest application")
	}
	return b, nil
}

func (p *Portal) update(c *call) (any, *apiError) {
	b, e := p.ownBot(c)
	if e != nil {
		return nil, e
	}
	fields := c.params.mapOf("FIELDS")
	if len(fields) == 0 {
		return nil, bad("WRONG_REQUEST", "Update fields can't be empty")
	}
	next := *b
	if v, ok := fields["CODE"]; ok {
		if str(v) == "" {
			return nil, bad("CODE_ERROR", "Bot code isn't specified")
		}
		next.Code = str(v)
	}
	if anyHandler(fields) {
		h, e := readHandlers(fields, b.Handlers, false)
		if e != nil {
			return nil, e
		}
		if !eventUpdatesApply(b.Type, b.Openline) {
			h.MessageUpdate, h.MessageDelete = "", ""
		}
		next.Handlers = h
		p.appHandlers[c.app] = h
	}
	if props := fields.mapOf("PROPERTIES"); props != nil {
		next.Properties = applyProperties(b.Properties, props)
		if next.Properties.Name == "" && next.Properties.LastName == "" {
			return nil, bad("NAME_ERROR", "Bot name isn't specified")
		}
	}
	// TYPE and OPENLINE cannot change: ignored.
	*b = next
	return true, nil
}

func (p *Portal) unregister(c *call) (any, *apiError) {
	b, e := p.ownBot(c)
	if e != nil {
		return nil, e
	}
	p.deleteBot(b.ID)
	return true, nil
}

func fullName(pr Properties) string {
	return strings.TrimSpace(pr.Name + " " + pr.LastName)
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// emptyOr returns m, or [] for an empty map: PHP encodes an empty array as a list.
func emptyOr(m map[string]any) any {
	if len(m) == 0 {
		return []any{}
	}
	return m
}

func (p *Portal) botList(c *call) (any, *apiError) {
	out := map[string]any{}
	for _, b := range p.bots {
		out[strconv.Itoa(b.ID)] = map[string]any{
			"ID": b.ID, "NAME": fullName(b.Properties), "CODE": b.Code, "OPENLINE": yn(b.Openline),
		}
	}
	return emptyOr(out), nil
}

// ---- chat apps ----

var (
	jsMethods    = map[string]bool{"PUT": true, "SEND": true, "CALL": true, "SUPPORT": true}
	jsParamRe    = regexp.MustCompile(`^[a-z0-9\-+_/]+$`)
	appContexts  = map[string]bool{"ALL": true, "USER": true, "CHAT": true, "BOT": true, "LINES": true, "CALL": true}
	errAppParams = func(desc string) *apiError { return bad("PARAMS_ERROR", desc) }
)

// applyAppFields validates the app fields present in f onto a copy of base. register demands
// a JS command or an IFRAME.
func applyAppFields(base App, f params, register bool) (App, *apiError) {
	a := base
	a.Lang = slices.Clone(base.Lang)
	switch {
	case f.str("JS_METHOD") != "":
		// With both JS and IFRAME given, JS wins.
		m := strings.ToUpper(f.str("JS_METHOD"))
		if !jsMethods[m] {
			return a, errAppParams("Incorrect JS_METHOD")
		}
		param := f.str("JS_PARAM")
		switch {
		case (m == "PUT" || m == "SEND") && !jsParamRe.MatchString(param):
			return a, errAppParams("JS_PARAM may contain only a-z 0-9 - + _ /")
		case m == "SUPPORT" && len(param) != 32:
			return a, errAppParams("JS_PARAM must be the 32-character open channel code")
		case param == "":
			return a, errAppParams("JS_PARAM is empty")
		}
		a.JSMethod, a.JSParam = m, param
		a.Iframe, a.IframeWidth, a.IframeHeight, a.Hash, a.IframePopup = "", 0, 0, "", false
	case f.str("IFRAME") != "" || (!register && a.Iframe != "" && anyIframeField(f)):
		iframe := a.Iframe
		if v := f.str("IFRAME"); v != "" {
			iframe = v
		}
		if !strings.HasPrefix(strings.ToLower(iframe), "https://") || !validURL(iframe) {
			return a, bad("IFRAME_HTTPS", "Link to IFRAME must be specified to site with active HTTPS-certificate")
		}
		w, h, hash := a.IframeWidth, a.IframeHeight, a.Hash
		if v, ok := f.int("IFRAME_WIDTH"); ok {
			w = v
		}
		if v, ok := f.int("IFRAME_HEIGHT"); ok {
			h = v
		}
		if _, ok := f["HASH"]; ok {
			hash = f.str("HASH")
		}
		if w < 250 || h < 50 {
			return a, errAppParams("IFRAME_WIDTH must be at least 250 and IFRAME_HEIGHT at least 50")
		}
		if len(hash) != 32 {
			return a, bad("HASH_ERROR", "You have not specified HASH for application")
		}
		a.Iframe, a.IframeWidth, a.IframeHeight, a.Hash = iframe, w, h, hash
		if _, ok := f["IFRAME_POPUP"]; ok {
			a.IframePopup = f.flag("IFRAME_POPUP")
		}
		a.JSMethod, a.JSParam = "", ""
	case register:
		return a, errAppParams("Neither a JS command nor an IFRAME is specified")
	}
	if v, ok := f["CONTEXT"]; ok {
		ctx := strings.ToUpper(str(v))
		base, admin := strings.CutSuffix(ctx, "-ADMIN")
		if !appContexts[base] {
			return a, errAppParams("Incorrect CONTEXT")
		}
		a.Context = base
		if admin {
			a.Context += "-admin"
		}
	} else if register {
		a.Context = "ALL"
	}
	if v, ok := f["ICON_FILE"]; ok {
		if b, ok := decodeBase64(str(v)); ok {
			a.Icon = b
		}
	}
	for k, dst := range map[string]*bool{"HIDDEN": &a.Hidden, "EXTRANET_SUPPORT": &a.ExtranetSupport, "LIVECHAT_SUPPORT": &a.LivechatSupport} {
		if _, ok := f[k]; ok {
			*dst = f.flag(k)
		}
	}
	if v, ok := f["LANG"]; ok {
		a.Lang = nil
		for _, e := range listOf(v) {
			l := mapOf(e)
			if l == nil {
				continue
			}
			a.Lang = append(a.Lang, Lang{LanguageID: l.str("LANGUAGE_ID"), Title: l.str("TITLE"),
				Description: l.str("DESCRIPTION"), Copyright: l.str("COPYRIGHT")})
		}
	}
	if !a.Hidden && len(a.Lang) == 0 {
		return a, bad("LANG_ERROR", "Language phrases are not returned for visible command")
	}
	return a, nil
}

func anyIframeField(f params) bool {
	for _, k := range []string{"IFRAME_WIDTH", "IFRAME_HEIGHT", "HASH", "IFRAME_POPUP"} {
		if _, ok := f[k]; ok {
			return true
		}
	}
	return false
}

func (p *Portal) appRegister(c *call) (any, *apiError) {
	b, e := p.ownBot(c)
	if e != nil {
		return nil, e
	}
	code := c.params.str("CODE")
	if code == "" {
		return nil, bad("CODE_ERROR", "Chat app code isn't specified")
	}
	a, e := applyAppFields(App{}, c.params, true)
	if e != nil {
		return nil, e
	}
	for _, existing := range p.apps {
		if existing.BotID == b.ID && existing.Code == code {
			// Same (BOT_ID, CODE): the existing app, not updated.
			return existing.ID, nil
		}
	}
	a.ID, a.BotID, a.Code, a.App = p.nextAppID, b.ID, code, c.app
	p.nextAppID++
	p.apps[a.ID] = &a
	return a.ID, nil
}

func (p *Portal) ownApp(c *call) (*App, *apiError) {
	id, _ := c.params.int("APP_ID")
	a, ok := p.apps[id]
	if !ok {
		return nil, bad("CHAT_APP_ID_ERROR", "Chat app not found")
	}
	if a.App != c.app {
		return nil, bad("APP_ID_ERROR", "Chat app was installed by another rest application")
	}
	return a, nil
}

func (p *Portal) appUpdate(c *call) (any, *apiError) {
	a, e := p.ownApp(c)
	if e != nil {
		return nil, e
	}
	fields := c.params.mapOf("FIELDS")
	if len(fields) == 0 {
		return nil, bad("WRONG_REQUEST", "Update fields can't be empty")
	}
	next, e := applyAppFields(*a, fields, false)
	if e != nil {
		return nil, e
	}
	*a = next
	return true, nil
}

func (p *Portal) appUnregister(c *call) (any, *apiError) {
	a, e := p.ownApp(c)
	if e != nil {
		return nil, e
	}
	delete(p.apps, a.ID)
	return true, nil
}

// ---- chats ----

// colors maps colour names to the hex imbot.dialog.get reports.
var colors = map[string]string{
	"RED": "#df532d", "GREEN": "#64a513", "MINT": "#4ba984", "LIGHT_BLUE": "#4ba5c3",
	"DARK_BLUE": "#3e99ce", "PURPLE": "#8474c8", "AQUA": "#1eb4aa", "PINK": "#f76187",
	"LIME": "#58cc47", "BROWN": "#ab7761", "AZURE": "#29619b", "KHAKI": "#728f7a",
	"SAND": "#ba9c7b", "MARENGO": "#556574", "GRAY": "#909090", "GRAPHITE": "#5e5f5e",
}

var colorOrder = []string{"RED", "GREEN", "MINT", "LIGHT_BLUE", "DARK_BLUE", "PURPLE", "AQUA", "PINK",
	"LIME", "BROWN", "AZURE", "KHAKI", "SAND", "MARENGO", "GRAY", "GRAPHITE"}

// actingBot is BOT_ID, or the application's first bot when it is left out.
func (p *Portal) actingBot(c *call) (*Bot, *apiError) {
	if id, ok := c.params.int("BOT_ID"); ok && id != 0 {
		return p.ownBot(c)
	}
	var first *Bot
	for _, b := range p.bots {
		if b.App == c.app && (first == nil || b.ID < first.ID) {
			first = b
		}
	}
	if first == nil {
		return nil, bad("BOT_ID_ERROR", "Bot not found")
	}
	return first, nil
}

func (p *Portal) chatAdd(c *call) (any, *apiError) {
	b, e := p.actingBot(c)
	if e != nil {
		return nil, e
	}
	ps := c.params
	users, ok := intList(ps["USERS"])
	if !ok {
		return nil, bad("INVALID_FORMAT", "USERS must be a list of user ids")
	}
	if len(users) == 0 {
		return nil, bad("USERS_EMPTY", "Chat members list is empty")
	}
	typ := strings.ToUpper(ps.str("TYPE"))
	if typ == "" {
		typ = "CHAT"
	}
	if typ != "CHAT" && typ != "OPEN" {
		return nil, bad("WRONG_REQUEST", "Incorrect chat type")
	}
	id := p.nextChatID
	p.nextChatID++
	color := strings.ToUpper(ps.str("COLOR"))
	if _, ok := colors[color]; !ok {
		// Bitrix picks a colour itself when none (or an unknown one) is given.
		color = colorOrder[id%len(colorOrder)]
	}
	owner := b.ID
	if o, ok := ps.int("OWNER_ID"); ok && o > 0 {
		owner = o
	}
	ch := &Chat{
		ID: id, Type: typ, EntityType: ps.str("ENTITY_TYPE"), EntityID: ps.str("ENTITY_ID"),
		Title: ps.str("TITLE"), Description: ps.str("DESCRIPTION"), Color: color, Owner: owner,
		BotID: b.ID, App: c.app, Message: ps.str("MESSAGE"), Created: time.Now(),
	}
	if ch.Title == "" {
		ch.Title = fmt.Sprintf("Chat #%d", id)
	}
	if av, ok := decodeBase64(ps.str("AVATAR")); ok {
		ch.Avatar = av
	}
	for _, m := range append([]int{b.ID, owner}, users...) {
		ch.addMember(m)
	}
	p.chats[id] = ch
	return id, nil
}

func (p *Portal) chatGet(c *call) (any, *apiError) {
	et, eid := c.params.str("ENTITY_TYPE"), c.params.str("ENTITY_ID")
	if et == "" && eid == "" {
		return nil, nil
	}
	var found *Chat
	// The first match on the whole portal, whichever bot or application created it.
	for _, ch := range p.chats {
		if ch.EntityType == et && ch.EntityID == eid && (found == nil || ch.ID < found.ID) {
			found = ch
		}
	}
	if found == nil {
		return nil, nil
	}
	return map[string]any{"ID": found.ID}, nil
}

func (p *Portal) avatarURL(ch *Chat) string {
	if len(ch.Avatar) == 0 {
		return ""
	}
	sum := sha256.Sum256(ch.Avatar)
	return p.cfg.baseURL + "/upload/im/avatar/" + hex.EncodeToString(sum[:8]) + ".png"
}

func (p *Portal) dialogGet(c *call) (any, *apiError) {
	b, e := p.actingBot(c)
	if e != nil {
		return nil, e
	}
	d := c.params.str("DIALOG_ID")
	if d == "" {
		return nil, bad("DIALOG_ID_EMPTY", "Dialog ID can't be empty")
	}
	noAccess := bad("ACCESS_ERROR", "You do not have access to the specified dialog")
	rest, ok := strings.CutPrefix(d, "chat")
	if !ok {
		return nil, noAccess // private dialogs are not simulated
	}
	id, err := strconv.Atoi(rest)
	ch, found := p.chats[id]
	if err != nil || !found || (!ch.isMember(b.ID) && ch.Type != "OPEN") {
		return nil, noAccess
	}
	msgType := "C"
	if ch.Type == "OPEN" {
		msgType = "O"
	}
	return map[string]any{
		"id": ch.ID, "parent_chat_id": 0, "parent_message_id": 0,
		"name": ch.Title, "description": ch.Description, "owner": ch.Owner,
		"extranet": false, "avatar": p.avatarURL(ch), "color": colors[ch.Color],
		"type": strings.ToLower(ch.Type), "entity_type": ch.EntityType, "entity_id": ch.EntityID,
		"entity_data_1": "", "entity_data_2": "", "entity_data_3": "",
		"date_create": ch.Created.Format(time.RFC3339), "message_type": msgType,
		"dialog_id": "chat" + strconv.Itoa(ch.ID), "user_counter": len(ch.Members),
	}, nil
}

// chatOf finds CHAT_ID for the acting bot. missing is the error for an unknown chat or one the
// bot is not in (the methods differ: WRONG_REQUEST for updates, ACCESS_ERROR for reads).
func (p *Portal) chatOf(c *call, missingCode string) (*Chat, *Bot, *apiError) {
	b, e := p.actingBot(c)
	if e != nil {
		return nil, nil, e
	}
	id, ok := c.params.int("CHAT_ID")
	if !ok || id == 0 {
		return nil, nil, bad("CHAT_ID_EMPTY", "Chat ID can't be empty")
	}
	ch, found := p.chats[id]
	if !found || !ch.isMember(b.ID) {
		if missingCode == "ACCESS_ERROR" {
			return nil, nil, bad(missingCode, "You do not have access to this chat")
		}
		return nil, nil, bad(missingCode, "Chat not found or the bot is not a member")
	}
	return ch, b, nil
}

func (p *Portal) chatUpdateTitle(c *call) (any, *apiError) {
	title := c.params.str("TITLE")
	if title == "" {
		return nil, bad("TITLE_EMPTY", "Chat title can't be empty")
	}
	ch, _, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	if ch.Title == title {
		return nil, bad("WRONG_REQUEST", "The chat already has this title")
	}
	ch.Title = title
	return true, nil
}

func (p *Portal) chatUpdateColor(c *call) (any, *apiError) {
	color := strings.ToUpper(c.params.str("COLOR"))
	if _, ok := colors[color]; !ok {
		return nil, bad("WRONG_COLOR", "Color is not in the list of available colors")
	}
	ch, _, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	if ch.Color == color {
		return nil, bad("WRONG_REQUEST", "Color is already set")
	}
	ch.Color = color
	return true, nil
}

func (p *Portal) chatUpdateAvatar(c *call) (any, *apiError) {
	av, ok := decodeBase64(c.params.str("AVATAR"))
	if !ok {
		return nil, bad("AVATAR_ERROR", "Incorrect image format provided")
	}
	ch, _, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	if slices.Equal(ch.Avatar, av) {
		return nil, bad("WRONG_REQUEST", "The chat already has this avatar")
	}
	ch.Avatar = av
	return true, nil
}

func (p *Portal) chatSetOwner(c *call) (any, *apiError) {
	user, ok := c.params.int("USER_ID")
	if !ok || user == 0 {
		return nil, bad("USER_ID_EMPTY", "New owner's identifier can't be empty")
	}
	ch, b, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	if ch.Owner != b.ID {
		return nil, bad("WRONG_REQUEST", "Only the chat owner can hand the chat over")
	}
	if !ch.isMember(user) || user == ch.Owner {
		return nil, bad("WRONG_REQUEST", "The new owner must be another member of the chat")
	}
	ch.Owner = user
	return true, nil
}

func (p *Portal) chatLeave(c *call) (any, *apiError) {
	ch, b, e := p.chatOf(c, "ACCESS_ERROR")
	if e != nil {
		return nil, e
	}
	if ch.Owner == b.ID {
		return nil, bad("LEAVE_OWNER_FORBIDDEN", "The owner must hand the chat over before leaving")
	}
	ch.removeMember(b.ID)
	return true, nil
}

func (p *Portal) chatUserList(c *call) (any, *apiError) {
	ch, _, e := p.chatOf(c, "ACCESS_ERROR")
	if e != nil {
		return nil, e
	}
	return slices.Clone(ch.Members), nil
}

func (p *Portal) chatUserAdd(c *call) (any, *apiError) {
	users, ok := intList(c.params["USERS"])
	if !ok || len(users) == 0 {
		return nil, bad("WRONG_REQUEST", "USERS must be a non-empty list of user ids")
	}
	ch, _, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	for _, u := range users {
		if ch.isMember(u) {
			return nil, bad("WRONG_REQUEST", "The user is already a member of the chat")
		}
	}
	for _, u := range users {
		ch.addMember(u)
	}
	return true, nil
}

func (p *Portal) chatUserDelete(c *call) (any, *apiError) {
	user, ok := c.params.int("USER_ID")
	if !ok || user == 0 {
		return nil, bad("USER_ID_EMPTY", "User ID can't be empty")
	}
	ch, _, e := p.chatOf(c, "WRONG_REQUEST")
	if e != nil {
		return nil, e
	}
	if !ch.isMember(user) {
		return nil, bad("WRONG_REQUEST", "The user is not a member of the chat")
	}
	if user == ch.Owner {
		return nil, bad("LEAVE_OWNER_FORBIDDEN", "The owner cannot be removed from the chat")
	}
	ch.removeMember(user)
	return true, nil
}

// ---- batch ----

const maxBatch = 50

func (p *Portal) batch(c *caller, ps params, order []string) (any, *apiError) {
	cmds := mapOf(ps["CMD"])
	if cmds == nil {
		if l, ok := ps["CMD"].([]any); ok {
			cmds = params{}
			for i, v := range l {
				cmds[strconv.Itoa(i)] = v
			}
		}
	}
	if len(cmds) > maxBatch {
		return nil, bad("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
	}
	halt := ps.flag("HALT")
	if n, ok := ps.int("HALT"); ok {
		halt = n != 0
	}
	keys := make([]string, 0, len(cmds))
	seen := map[string]bool{}
	for _, k := range order {
		if _, ok := cmds[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range cmds {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	keys = append(keys, rest...)

	sub := *c
	if c.clientID == "" {
		sub.outerClient = ps.str("CLIENT_ID")
	}
	results, errs, times := map[string]any{}, map[string]any{}, map[string]any{}
	for _, k := range keys {
		method, query, _ := strings.Cut(str(cmds[k]), "?")
		method = canonicalMethod(strings.TrimSpace(method))
		start := time.Now()
		cp, _, err := parsePHPQuery(query)
		var res any
		var e *apiError
		if err != nil {
			e = bad("INVALID_REQUEST", "Could not parse the command")
			p.record(Call{Method: method, Status: e.status, ErrorCode: e.code, BatchKey: k})
		} else {
			res, e = p.dispatch(&sub, method, cp, nil, k)
		}
		times[k] = p.timeBlock(sub.appFor(method, cp), method, start)
		if e != nil {
			errs[k] = map[string]any{"error": e.code, "error_description": e.desc}
			if halt {
				break
			}
			continue
		}
		results[k] = res
	}
	return map[string]any{
		"result":       emptyOr(results),
		"result_error": emptyOr(errs),
		"result_total": []any{},
		"result_next":  []any{},
		"result_time":  emptyOr(times),
	}, nil
}
