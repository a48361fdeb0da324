package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// commandListKey names one bot of one Portal.
type commandListKey struct {
	portal types.NamespacedName
	bot    int
}

// commandListEntry is one bot's last imbot.v2.Command.list answer. One call per bot per resync
// serves the drift check of every BotCommand of that bot: concurrent readers share one call.
type commandListEntry struct {
	mu      sync.Mutex
	fetched time.Time
	read    bool
	cmds    []bitrix.CommandV2
}

func (p *Portals) commandEntry(key commandListKey) *commandListEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.commands == nil {
		p.commands = map[commandListKey]*commandListEntry{}
	}
	e, ok := p.commands[key]
	if !ok {
		e = &commandListEntry{}
		p.commands[key] = e
	}
	return e
}

// CommandsV2 returns the commands of one bot, calling imbot.v2.Command.list only when the last
// answer is older than maxAge. With force it returns a list read after the call began:
// concurrent forced readers share one fresh call.
func (p *Portals) CommandsV2(ctx context.Context, portal types.NamespacedName, c *bitrix.Client, botID int, maxAge time.Duration, force bool) ([]bitrix.CommandV2, error) {
	asked := time.Now()
	e := p.commandEntry(commandListKey{portal, botID})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.read && (e.fetched.After(asked) || !force && time.Since(e.fetched) < maxAge) {
		return e.cmds, nil
	}
	started := time.Now()
	cmds, err := c.CommandListV2(ctx, botID)
	if err != nil {
		return nil, err
	}
	e.cmds, e.fetched, e.read = cmds, started, true
	return cmds, nil
}

// NoteCommandV2 records a command the operator just registered (or drops one it removed, with
// remove), so the next drift check within the same resync neither takes it for missing nor
// finds it again.
func (p *Portals) NoteCommandV2(portal types.NamespacedName, cmd bitrix.CommandV2, remove bool) {
	p.mu.Lock()
	e := p.commands[commandListKey{portal, cmd.BotID}]
	p.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.read {
		return
	}
	cmds := slices.DeleteFunc(slices.Clone(e.cmds), func(c bitrix.CommandV2) bool { return c.ID == cmd.ID })
	if !remove {
		cmds = append(cmds, cmd)
	}
	e.cmds = cmds
}
