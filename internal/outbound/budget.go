package outbound

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/semaphore"
)

// Budget bounds the response bytes that all calls of the process hold at once. A call takes
// its share before it reads a body (the declared Content-Length, or the whole size cap when
// the length is unknown) and gives it back when it is done, so a few portals answering huge
// bodies at the same time cannot together exhaust the operator's memory. Taking the share
// up front, in one piece, cannot deadlock.
type Budget struct {
	sem   *semaphore.Weighted
	bytes int64
}

// NewBudget returns a budget of n bytes.
func NewBudget(n int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(n), bytes: n}
}

// Bytes is the budget's size.
func (b *Budget) Bytes() int64 { return b.bytes }

// Acquire takes n bytes (at most the whole budget), waiting until they are free or ctx ends.
// It returns the function that gives them back. A nil budget never waits.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	n = max(1, min(n, b.bytes))
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return func() { b.sem.Release(n) }, nil
}

// Share is how much of a budget a body of the declared length (-1: unknown) read with the
// cap limit takes.
func Share(contentLength, limit int64) int64 {
	if contentLength >= 0 && contentLength < limit {
		return contentLength + 1 // +1: the read that sees EOF
	}
	return limit
}

// TooLargeError is an answer larger than the client's cap.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than the %s limit", formatBytes(e.Limit))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// LimitReader returns a reader of r that fails with *TooLargeError as soon as more than limit
// bytes come: a decoder reading it stops there instead of holding the whole answer.
func LimitReader(r io.Reader, limit int64) io.Reader {
	return &limitedReader{r: r, left: limit, limit: limit}
}

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &TooLargeError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &TooLargeError{Limit: l.limit}
	}
	return n, err
}
