package bitrixtest

import (
	"net/http"
	"time"
)

// Fault is a misbehaviour injected into the next calls of a method. Fields combine: Latency
// delays whatever else happens.
type Fault struct {
	// Times is how many calls the fault affects; 0 means 1, a negative value every call until
	// ClearFaults.
	Times int
	// Latency delays the answer (before the call runs).
	Latency time.Duration
	// Status is the HTTP status of an HTML, Empty or Code fault (defaults: 502 for HTML and
	// Empty, 400 for Code).
	Status int
	// HTML answers an HTML error page, as a proxy in front of Bitrix does; the call does not run.
	HTML bool
	// Empty answers an empty body; the call does not run.
	Empty bool
	// Code answers this Bitrix error (with Description) without running the call.
	Code        string
	Description string
	// Drop runs the call (it takes effect) and then resets the connection without answering.
	Drop bool
	// RedirectTo answers 302 to the same path on this base URL; the call does not run.
	RedirectTo string
}

// FaultHTML is an HTML error page with the given status; the call does not run.
func FaultHTML(status int) Fault { return Fault{HTML: true, Status: status} }

// FaultEmpty is an empty body with the given status; the call does not run.
func FaultEmpty(status int) Fault { return Fault{Empty: true, Status: status} }

// FaultError is a Bitrix error answer; the call does not run.
func FaultError(status int, code, description string) Fault {
	return Fault{Status: status, Code: code, Description: description}
}

// FaultDrop runs the call, then resets the connection: the client cannot know it ran.
func FaultDrop() Fault { return Fault{Drop: true} }

// FaultLatency delays the answer.
func FaultLatency(d time.Duration) Fault { return Fault{Latency: d} }

func (f Fault) status(def int) int {
	if f.Status != 0 {
		return f.Status
	}
	return def
}

// answersBeforeRunning reports whether the fault replaces the call's answer.
func (f Fault) answersBeforeRunning() bool {
	return f.HTML || f.Empty || f.Code != "" || f.RedirectTo != ""
}

type pendingFault struct {
	Fault
	left int // < 0: forever
}

// InjectFault applies f to the next f.Times calls of method ("*" for any method; the OAuth
// token endpoint is never affected). Faults of one method apply in the order injected.
func (p *Portal) InjectFault(method string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := f.Times
	if n == 0 {
		n = 1
	}
	method = canonicalMethod(method)
	p.faults[method] = append(p.faults[method], &pendingFault{Fault: f, left: n})
}

// ClearFaults removes every pending fault and operating-time limit.
func (p *Portal) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = map[string][]*pendingFault{}
	p.opLimits = map[string]time.Time{}
}

// LimitOperatingTime makes method answer 429 OPERATION_TIME_LIMIT, for every application,
// until the given time, which the answers carry as time.operating_reset_at.
func (p *Portal) LimitOperatingTime(method string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opLimits[canonicalMethod(method)] = until
}

func (p *Portal) takeFault(method string) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeFaultLocked(method)
}

func (p *Portal) takeFaultLocked(method string) *Fault {
	for _, key := range []string{method, "*"} {
		q := p.faults[key]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				p.faults[key] = q[1:]
			}
		}
		out := f.Fault
		return &out
	}
	return nil
}

func (p *Portal) faultReply(method string, f *Fault, r *http.Request) reply {
	switch {
	case f.RedirectTo != "":
		return reply{status: http.StatusFound, header: map[string]string{"Location": f.RedirectTo + r.URL.RequestURI()}}
	case f.HTML:
		st := f.status(http.StatusBadGateway)
		return reply{status: st, header: map[string]string{"Content-Type": "text/html"},
			body: []byte(htmlPageFor(st))}
	case f.Empty:
		return reply{status: f.status(http.StatusBadGateway)}
	default:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.errorReply("", method, errf(f.status(http.StatusBadRequest), f.Code, f.Description))
	}
}

func htmlPageFor(status int) string {
	return "<html>\n<head><title>" + http.StatusText(status) + "</title></head>\n<body>\n<center><h1>" +
		http.StatusText(status) + "</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n"
}

// takeBatchFault consumes a Bitrix-error fault injected for exactly this method, for a command
// inside a batch (HTML, drops and redirects concern whole requests).
func (p *Portal) takeBatchFault(method string) *Fault {
	q := p.faults[method]
	if len(q) == 0 || q[0].Code == "" {
		return nil
	}
	f := q[0]
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			p.faults[method] = q[1:]
		}
	}
	out := f.Fault
	return &out
}
