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
	// FaultHangApplied processes the request (a write is applied) and then
	// holds the reply for Duration; with Duration 0 until the client gives
	// up, or 60 s, then 400 "Session closed". The client sees a timeout
	// for a write that took effect.
	FaultHangApplied
	// FaultStallBody processes the request, sends the status, the headers
	// (with the full Content-Length) and the first half of the body, then
	// holds for Duration (0: until the client gives up, or 60 s) before
	// the rest: a reply whose headers arrive in time and whose body does not.
	FaultStallBody
	// FaultBigReply processes the request and pads its reply with
	// whitespace to Size bytes (still the same JSON value). When the
	// request accepts gzip, the reply is gzip-encoded: a few KB on the wire
	// per MiB, a compression bomb for large sizes.
	FaultBigReply
	// FaultBody processes the request and replaces a 2xx reply's body
	// with Body, as status 200 ("" is an empty body): empty, "null", "{}"
	// or an error object where a menu's array belongs.
	FaultBody
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
	case FaultHangApplied:
		return "hangapplied"
	case FaultStallBody:
		return "stall"
	case FaultBigReply:
		return "big"
	case FaultBody:
		return "body"
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
	// Duration is how long FaultHang, FaultHangApplied and FaultStallBody
	// hold the request.
	Duration time.Duration
	// Detail is the reply's detail (FaultBadRequestApplied, FaultServerError).
	Detail string
	// Size is the FaultBigReply body size in bytes (before gzip).
	Size int64
	// Body is the FaultBody reply body.
	Body string
}

// namedBodies is what FaultBody can send by name (the ARG of "body:NAME" in
// the -faults syntax).
var namedBodies = map[string]string{
	"empty":  "",
	"null":   "null",
	"object": "{}",
	"error":  `{"error":400,"message":"Bad Request","detail":"no such command or directory"}`,
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
// KIND is 5xx (or a status 500..599), hang, drop, 400applied, hangapplied,
// stall, big or body. ARG is the count for 5xx, drop and 400applied, the
// duration for hang, hangapplied and stall ("2s"; none = until the client
// gives up), the size for big ("70M": bytes, or k/M/G for KiB/MiB/GiB) and
// the body for body (empty, null, object or error). COUNT repeats a fault
// (hang:2s*3). The optional match limits it to a method and/or a menu path:
// "drop@PATCH", "5xx:2@/queue/tree", "400applied@PATCH/queue/tree".
// Example: "5xx:3,hang:2s,drop:1,400applied:1@PATCH,body:null@GET/ip/firewall/mangle".
func ParseFaults(spec string) ([]Fault, error) {
	var out []Fault
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f, err := parseFault(item)
		if err != nil {
			return nil, fmt.Errorf("fault %q: %w (syntax: KIND[:ARG][*COUNT][@[METHOD][/PATH]], KIND = 5xx|500..599|hang|drop|400applied|hangapplied|stall|big|body, e.g. \"5xx:3,hang:2s,drop:1,400applied:1@PATCH\")", item, err)
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
	case k == "hangapplied":
		f.Kind = FaultHangApplied
	case k == "stall":
		f.Kind = FaultStallBody
	case k == "big":
		f.Kind = FaultBigReply
		if !hasArg {
			return f, fmt.Errorf("big needs a size (big:70M)")
		}
	case k == "body":
		f.Kind = FaultBody
		if !hasArg {
			return f, fmt.Errorf("body needs one of empty, null, object, error (body:null)")
		}
	default:
		return f, fmt.Errorf("unknown kind %q", kind)
	}
	if hasArg {
		switch f.Kind {
		case FaultHang, FaultHangApplied, FaultStallBody:
			d, err := time.ParseDuration(arg)
			if err != nil || d < 0 {
				return f, fmt.Errorf("%s duration %q: want e.g. 2s or 500ms", kind, arg)
			}
			f.Duration = d
		case FaultBigReply:
			n, err := parseSize(arg)
			if err != nil {
				return f, err
			}
			f.Size = n
		case FaultBody:
			b, ok := namedBodies[arg]
			if !ok {
				return f, fmt.Errorf("body %q: want empty, null, object or error", arg)
			}
			f.Body = b
		default:
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
		if hasArg && !argIsNotCount(f.Kind) {
			return f, fmt.Errorf("count given twice (%s:N and *N)", kind)
		}
		f.Count = n
	}
	return f, nil
}

// argIsNotCount: kinds whose ARG is something else (then *N counts).
func argIsNotCount(k FaultKind) bool {
	switch k {
	case FaultHang, FaultHangApplied, FaultStallBody, FaultBigReply, FaultBody:
		return true
	}
	return false
}

// parseSize reads a byte count: digits with an optional k, M or G suffix
// (powers of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, s[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, s[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q: want bytes, or k/M/G (KiB, MiB, GiB), e.g. 70M", s)
	}
	return n * mult, nil
}

func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "G"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "M"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
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
	switch f.Kind {
	case FaultHang, FaultHangApplied, FaultStallBody:
		if f.Duration > 0 {
			b.WriteString(":" + f.Duration.String())
		}
	case FaultBigReply:
		b.WriteString(":" + formatSize(f.Size))
	case FaultBody:
		name := "?"
		for k, v := range namedBodies {
			if v == f.Body {
				name = k
			}
		}
		b.WriteString(":" + name)
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
