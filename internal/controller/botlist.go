package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// botListEntry is one Portal's last imbot.bot.list answer. One call per Portal per resync
// serves the drift check of every bot of that Portal: concurrent readers share one call.
type botListEntry struct {
	mu      sync.Mutex
	fetched time.Time
	bots    map[int]bitrix.BotInfo
	// by is the client that read bots: a list read by another identity (before a change of
	// the webhook identity) shows another application's bots and is never reused.
	by *bitrix.Client

	// The same for imbot.v2.Bot.list (paged), which serves the V2 bots of the Portal.
	muV2      sync.Mutex
	fetchedV2 time.Time
	botsV2    map[int]bitrix.BotV2
	byV2      *bitrix.Client
}

// entry returns the Portal's list entry, creating it.
func (p *Portals) entry(key types.NamespacedName) *botListEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lists == nil {
		p.lists = map[types.NamespacedName]*botListEntry{}
	}
	e, ok := p.lists[key]
	if !ok {
		e = &botListEntry{}
		p.lists[key] = e
	}
	return e
}

// BotList returns the Portal's bot list, calling imbot.bot.list only when the last answer is
// older than maxAge. With force it returns a list read after the call began: concurrent
// forced readers share one fresh call.
func (p *Portals) BotList(ctx context.Context, key types.NamespacedName, c *bitrix.Client, maxAge time.Duration, force bool) (map[int]bitrix.BotInfo, error) {
	asked := time.Now()
	e := p.entry(key)

	// Holding the entry's lock while calling makes concurrent readers wait for, and then
	// share, the one answer.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bots != nil && e.by == c && (e.fetched.After(asked) || !force && time.Since(e.fetched) < maxAge) {
		return e.bots, nil
	}
	// fetched is when the call started: the answer shows nothing older than that.
	started := time.Now()
	bots, err := c.BotList(ctx)
	if err != nil {
		return nil, err
	}
	e.bots, e.fetched, e.by = bots, started, c
	return bots, nil
}

// NoteBot records a bot the operator just registered, so the next drift check within the
// same resync does not take it for missing.
func (p *Portals) NoteBot(key types.NamespacedName, info bitrix.BotInfo) {
	p.mu.Lock()
	e := p.lists[key]
	p.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bots != nil {
		bots := make(map[int]bitrix.BotInfo, len(e.bots)+1)
		for k, v := range e.bots {
			bots[k] = v
		}
		bots[info.ID] = info
		e.bots = bots
	}
}

// BotListV2 is BotList for the V2 bots: every page of imbot.v2.Bot.list (only this
// application's bots), read at most once per maxAge and shared by every V2 bot of the Portal.
func (p *Portals) BotListV2(ctx context.Context, key types.NamespacedName, c *bitrix.Client, maxAge time.Duration, force bool) (map[int]bitrix.BotV2, error) {
	asked := time.Now()
	e := p.entry(key)
	e.muV2.Lock()
	defer e.muV2.Unlock()
	if e.botsV2 != nil && e.byV2 == c && (e.fetchedV2.After(asked) || !force && time.Since(e.fetchedV2) < maxAge) {
		return e.botsV2, nil
	}
	started := time.Now()
	list, err := c.ListBotsV2(ctx, "")
	if err != nil {
		return nil, err
	}
	bots := make(map[int]bitrix.BotV2, len(list))
	for _, b := range list {
		bots[b.ID] = b
	}
	e.botsV2, e.fetchedV2, e.byV2 = bots, started, c
	return bots, nil
}

// NoteBotV2 records a V2 bot the operator just registered, like NoteBot.
func (p *Portals) NoteBotV2(key types.NamespacedName, bot bitrix.BotV2) {
	p.mu.Lock()
	e := p.lists[key]
	p.mu.Unlock()
	if e == nil {
		return
	}
	e.muV2.Lock()
	defer e.muV2.Unlock()
	if e.botsV2 != nil {
		bots := make(map[int]bitrix.BotV2, len(e.botsV2)+1)
		for k, v := range e.botsV2 {
			bots[k] = v
		}
		bots[bot.ID] = bot
		e.botsV2 = bots
	}
}
