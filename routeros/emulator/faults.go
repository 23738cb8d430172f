package emulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind is what an injected fault does to a request.
type FaultKind int

const (
	// FaultServerError answers 5xx (Status, default 500) with a
	// router-style JSON body, without processing the request.
	FaultServerError FaultKind = iota + 1
	// FaultHang holds the request (and the router) for Duration, then
	// processes it normally; with Duration 0 it holds until the client
	// gives up, or 60 s, then answers 400 "Session closed" like the router's
	// hard cap.
	FaultHang
	// FaultDrop closes the connection without a reply, before processing.
	FaultDrop
	// FaultBadRequestApplied processes a write (it is applied) and then
	// answers 400 with Detail (default "Session closed"). Reads are not
	// affected and do not consume it.
	FaultBadRequestApplied
)

func (k FaultKind) String() string {
	switch k {
	case FaultServerError:
		return "5xx"
	case FaultHang:
		return "hang"
	case FaultDrop:
		return "drop"
	case FaultBadRequestApplied:
		return "400applied"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is a failure injected into the next matching requests.
type Fault struct {
	Kind FaultKind
	// Count is how many matching requests it affects; 0 means 1.
	Count int
	// Method limits it to one HTTP method ("" = any).
	Method string
	// Path limits it to request paths starting with this menu path, with or
	// without "/rest/" ("queue/tree" matches "/rest/queue/tree/*1"); "" = any.
	Path string
	// Status is the FaultServerError status (500..599; default 500).
	Status int
	// Duration is how long FaultHang holds the request.
	Duration time.Duration
	// Detail is the reply's detail (FaultBadRequestApplied, FaultServerError).
	Detail string
}

type pendingFault struct {
	Fault
	left int
}

// Inject queues a fault. Faults apply in the order injected: each request
// takes the first pending fault that matches it.
func (e *Emulator) Inject(f Fault) {
	n := f.Count
	if n <= 0 {
		n = 1
	}
	e.mu.Lock()
	e.faults = append(e.faults, &pendingFault{Fault: f, left: n})
	e.mu.Unlock()
}

// ClearFaults drops every pending fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	e.faults = nil
	e.mu.Unlock()
}

// PendingFaults returns how many requests pending faults will still affect.
func (e *Emulator) PendingFaults() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, f := range e.faults {
		n += f.left
	}
	return n
}

func trimRest(p string) string {
	p = strings.Trim(p, "/")
	if p == "rest" {
		return ""
	}
	return strings.TrimPrefix(p, "rest/")
}

// takeFault consumes one use of the first pending fault matching the request.
func (e *Emulator) takeFault(method, path string, write bool) *Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := trimRest(path)
	for i, f := range e.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if fp := trimRest(f.Path); fp != "" && p != fp && !strings.HasPrefix(p, fp+"/") {
			continue
		}
		if f.Kind == FaultBadRequestApplied && !write {
			continue
		}
		f.left--
		if f.left <= 0 {
			e.faults = append(e.faults[:i], e.faults[i+1:]...)
		}
		c := f.Fault
		return &c
	}
	return nil
}

// ParseFaults parses the -faults syntax of `wanctl emulator`: a comma
// separated list of
//
//	KIND[:ARG][*COUNT][@[METHOD][/PATH]]
//
// KIND is 5xx (or a status 500..599), hang, drop or 400applied. ARG is the
// count for 5xx, drop and 400applied, the duration for hang ("2s"; none =
// until the client gives up). COUNT repeats a fault (hang:2s*3). The optional
// match limits it to a method and/or a menu path: "drop@PATCH",
// "5xx:2@/queue/tree", "400applied@PATCH/queue/tree".
// Example: "5xx:3,hang:2s,drop:1,400applied:1@PATCH".
func ParseFaults(spec string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f, err := parseFault(item)
		if err != nil {
			return nil, fmt.Errorf("fault %q: %w (syntax: KIND[:ARG][*COUNT][@[METHOD][/PATH]], KIND = 5xx|500..599|hang|drop|400applied, e.g. \"5xx:3,hang:2s,drop:1,400applied:1@PATCH\")", item, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFault(item string) (Fault, error) {
	var f Fault
	body, match, hasMatch := strings.Cut(item, "@")
	if hasMatch {
		m, p, _ := strings.Cut(match, "/")
		if m != "" {
			m = strings.ToUpper(m)
			switch m {
			case http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodPost:
			default:
				return f, fmt.Errorf("unknown method %q (GET, PUT, PATCH, DELETE or POST)", m)
			}
			f.Method = m
		}
		f.Path = strings.Trim(p, "/")
		if f.Method == "" && f.Path == "" {
			return f, fmt.Errorf("empty match after @")
		}
	}
	body, count, hasCount := strings.Cut(body, "*")
	kind, arg, hasArg := strings.Cut(body, ":")
	switch k := strings.ToLower(kind); {
	case k == "5xx":
		f.Kind, f.Status = FaultServerError, 500
	case len(k) == 3 && k[0] == '5':
		st, err := strconv.Atoi(k)
		if err != nil || st < 500 || st > 599 {
			return f, fmt.Errorf("unknown kind %q", kind)
		}
		f.Kind, f.Status = FaultServerError, st
	case k == "hang":
		f.Kind = FaultHang
	case k == "drop":
		f.Kind = FaultDrop
	case k == "400applied":
		f.Kind = FaultBadRequestApplied
	default:
		return f, fmt.Errorf("unknown kind %q", kind)
	}
	if hasArg {
		if f.Kind == FaultHang {
			d, err := time.ParseDuration(arg)
			if err != nil || d < 0 {
				return f, fmt.Errorf("hang duration %q: want e.g. 2s or 500ms", arg)
			}
			f.Duration = d
		} else {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return f, fmt.Errorf("count %q: want a whole number >= 1", arg)
			}
			f.Count = n
		}
	}
	if hasCount {
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			return f, fmt.Errorf("count %q: want a whole number >= 1", count)
		}
		if hasArg && f.Kind != FaultHang {
			return f, fmt.Errorf("count given twice (%s:N and *N)", kind)
		}
		f.Count = n
	}
	return f, nil
}

// String renders f in the -faults syntax.
func (f Fault) String() string {
	var b strings.Builder
	switch f.Kind {
	case FaultServerError:
		if f.Status != 0 && f.Status != 500 {
			b.WriteString(strconv.Itoa(f.Status))
		} else {
			b.WriteString("5xx")
		}
	default:
		b.WriteString(f.Kind.String())
	}
	if f.Kind == FaultHang && f.Duration > 0 {
		b.WriteString(":" + f.Duration.String())
	}
	if f.Count > 1 {
		b.WriteString("*" + strconv.Itoa(f.Count))
	}
	if f.Method != "" || f.Path != "" {
		b.WriteString("@" + f.Method)
		if f.Path != "" {
			b.WriteString("/" + f.Path)
		}
	}
	return b.String()
}
