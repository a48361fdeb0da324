package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/b24ops/b24-operator/internal/bitrix"
)

// chatBatcher coalesces the commands that concurrent Chat reconciles send to one portal
// (drift reads, lookups by entity, creations) into `batch` requests of up to 50 commands: a
// batch is one request against the portal's bucket, so a resync of 1,000 chats costs about 40
// requests instead of 2,000. Every caller waits for the batch it joined and reads only its
// own commands' results.
//
// A batch goes out as soon as it is full. Otherwise it closes when no command joined for the
// quiet period, or after the longest wait; if another batch of the portal is still in flight
// then (waiting for the rate limiter, typically), it keeps collecting until that one is
// answered: under the rate limit, batches leave full.
type chatBatcher struct {
	quiet, maxWait time.Duration
	mu             sync.Mutex
	queues         map[batchKey]*batchQueue
}

// batchKey separates portals, the clients of one Portal before and after its credentials
// change, and routine drift reads (bitrix.Routine) from the commands of new and changed chats:
// a routine batch waits for the portal's limiter to hold more than its reserve, the others
// never wait behind it.
type batchKey struct {
	portal  types.NamespacedName
	client  *bitrix.Client
	routine bool
}

// batchQueue is one portal's open batch and the number of its batches in flight.
type batchQueue struct {
	open     *openBatch
	inFlight int
}

type openBatch struct {
	client *bitrix.Client
	cmds   []bitrix.BatchCommand
	opened time.Time
	timer  *time.Timer
	// expired: the batch closed while another batch was in flight.
	expired bool
	done    chan struct{}
	res     bitrix.BatchResult
	err     error
}

// chatBatchTimeout bounds one batch request, waiting for the rate limiter included.
const chatBatchTimeout = 2 * time.Minute

func newChatBatcher(quiet, maxWait time.Duration) *chatBatcher {
	return &chatBatcher{quiet: quiet, maxWait: maxWait, queues: map[batchKey]*batchQueue{}}
}

// do adds cmds (whose keys need only be unique among themselves) to the portal's open batch
// and waits for its answer. The result is keyed by cmds' own keys.
func (b *chatBatcher) do(ctx context.Context, portal types.NamespacedName, c *bitrix.Client, cmds []bitrix.BatchCommand) (bitrix.BatchResult, error) {
	if len(cmds) > bitrix.MaxBatchCommands {
		return bitrix.BatchResult{}, fmt.Errorf("%d commands do not fit in one batch", len(cmds))
	}
	k := batchKey{portal: portal, client: c, routine: bitrix.IsRoutine(ctx)}
	b.mu.Lock()
	q := b.queues[k]
	if q == nil {
		q = &batchQueue{}
		b.queues[k] = q
	}
	if q.open != nil && len(q.open.cmds)+len(cmds) > bitrix.MaxBatchCommands {
		b.sendLocked(k, q)
	}
	if q.open == nil {
		ob := &openBatch{client: c, opened: time.Now(), done: make(chan struct{})}
		ob.timer = time.AfterFunc(b.quiet, func() { b.expire(k, ob) })
		q.open = ob
	} else {
		// Another command came: wait for the next quiet period, within the longest wait.
		q.open.timer.Reset(max(min(b.quiet, b.maxWait-time.Since(q.open.opened)), 0))
	}
	ob := q.open
	keys := make([]string, len(cmds))
	for i, cmd := range cmds {
		keys[i] = "c" + strconv.Itoa(len(ob.cmds))
		cmd.Key = keys[i]
		ob.cmds = append(ob.cmds, cmd)
	}
	if len(ob.cmds) == bitrix.MaxBatchCommands {
		b.sendLocked(k, q)
	}
	b.mu.Unlock()

	select {
	case <-ob.done:
	case <-ctx.Done():
		return bitrix.BatchResult{}, ctx.Err()
	}
	if ob.err != nil {
		return bitrix.BatchResult{}, ob.err
	}
	out := bitrix.BatchResult{Results: map[string]json.RawMessage{}, Errors: map[string]*bitrix.Error{}}
	for i, cmd := range cmds {
		if r, ok := ob.res.Results[keys[i]]; ok {
			out.Results[cmd.Key] = r
		}
		if e, ok := ob.res.Errors[keys[i]]; ok {
			out.Errors[cmd.Key] = e
		}
	}
	return out, nil
}

// expire closes ob: it goes out now, or when the batch in flight is answered.
func (b *chatBatcher) expire(k batchKey, ob *openBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[k]
	if q == nil || q.open != ob {
		return // already sent
	}
	if q.inFlight > 0 {
		ob.expired = true
		return
	}
	b.sendLocked(k, q)
}

// sendLocked sends the open batch. The request belongs to no single caller, so no caller's
// cancellation stops it.
func (b *chatBatcher) sendLocked(k batchKey, q *batchQueue) {
	ob := q.open
	q.open = nil
	q.inFlight++
	ob.timer.Stop()
	go func() {
		ctx := context.Background()
		if k.routine {
			ctx = bitrix.Routine(ctx)
		}
		ctx, cancel := context.WithTimeout(ctx, chatBatchTimeout)
		ob.res, ob.err = ob.client.Batch(ctx, ob.cmds, false)
		cancel()
		close(ob.done)

		b.mu.Lock()
		defer b.mu.Unlock()
		q.inFlight--
		switch {
		case q.open != nil && q.open.expired:
			b.sendLocked(k, q)
		case q.open == nil && q.inFlight == 0 && b.queues[k] == q:
			delete(b.queues, k)
		}
	}()
}
