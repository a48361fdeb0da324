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
}

// BotList returns the Portal's bot list, calling imbot.bot.list only when the last answer is
// older than maxAge. With force it returns a list read after the call began: concurrent
// forced readers share one fresh call.
func (p *Portals) BotList(ctx context.Context, key types.NamespacedName, c *bitrix.Client, maxAge time.Duration, force bool) (map[int]bitrix.BotInfo, error) {
	asked := time.Now()
	p.mu.Lock()
	if p.lists == nil {
		p.lists = map[types.NamespacedName]*botListEntry{}
	}
	e, ok := p.lists[key]
	if !ok {
		e = &botListEntry{}
		p.lists[key] = e
	}
	p.mu.Unlock()

	// Holding the entry's lock while calling makes concurrent readers wait for, and then
	// share, the one answer.
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.bots != nil && (e.fetched.After(asked) || !force && time.Since(e.fetched) < maxAge) {
		return e.bots, nil
	}
	// fetched is when the call started: the answer shows nothing older than that.
	started := time.Now()
	bots, err := c.BotList(ctx)
	if err != nil {
		return nil, err
	}
	e.bots, e.fetched = bots, started
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
