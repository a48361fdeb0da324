package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// commandLists holds one Portal's last imbot.v2.Command.list answers, per bot. A refresh
// reads the bot asked for and every peer (the Portal's other bots with BotCommands) whose
// answer is due too, in batch requests of up to 50 bots where the portal allows: one read per
// bot per resync serves every BotCommand of the bot, and the bots of a Portal share requests.
// Concurrent readers wait for, and then share, one refresh.
type commandLists struct {
	mu   sync.Mutex
	bots map[int]botCommands
}

type botCommands struct {
	fetched time.Time
	cmds    []bitrix.CommandV2
}

func (p *Portals) commandLists(portal types.NamespacedName) *commandLists {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.commands == nil {
		p.commands = map[types.NamespacedName]*commandLists{}
	}
	e, ok := p.commands[portal]
	if !ok {
		e = &commandLists{bots: map[int]botCommands{}}
		p.commands[portal] = e
	}
	return e
}

// CommandsV2 returns the commands of one bot, reading them only when the last answer is older
// than maxAge (with force: unless it was read after the call began). peers are the Portal's
// other bots with BotCommands: those whose answer is as old are read in the same requests.
func (p *Portals) CommandsV2(ctx context.Context, portal types.NamespacedName, c *bitrix.Client, botID int, peers []int, maxAge time.Duration, force bool) ([]bitrix.CommandV2, error) {
	asked := time.Now()
	e := p.commandLists(portal)
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.bots[botID]; ok && (b.fetched.After(asked) || !force && time.Since(b.fetched) < maxAge) {
		return b.cmds, nil
	}
	ids := []int{botID}
	for _, id := range peers {
		if b, ok := e.bots[id]; id != botID && (!ok || time.Since(b.fetched) >= maxAge/2) {
			ids = append(ids, id)
		}
	}
	// fetched is when the read started: the answer shows nothing older than that.
	started := time.Now()
	res, err := c.ListCommandsV2(ctx, ids)
	for id, r := range res {
		if r.Err == nil {
			e.bots[id] = botCommands{fetched: started, cmds: r.Commands}
		}
	}
	if r, ok := res[botID]; ok {
		return r.Commands, r.Err
	}
	return nil, err
}

// NoteCommandV2 records a command the operator just registered or updated (or drops one it
// removed, with remove), so the next drift check within the same resync neither takes it for
// missing nor finds it again.
func (p *Portals) NoteCommandV2(portal types.NamespacedName, cmd bitrix.CommandV2, remove bool) {
	p.mu.Lock()
	e := p.commands[portal]
	p.mu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.bots[cmd.BotID]
	if !ok {
		return
	}
	cmds := slices.DeleteFunc(slices.Clone(b.cmds), func(c bitrix.CommandV2) bool { return c.ID == cmd.ID })
	if !remove {
		cmds = append(cmds, cmd)
	}
	b.cmds = cmds
	e.bots[cmd.BotID] = b
}
