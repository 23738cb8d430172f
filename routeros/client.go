package routeros

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/wanctl/wanctl/routeros/internal/restjson"
)

// DefaultTimeout is the per-request timeout when Config.Timeout is 0.
const DefaultTimeout = 2 * time.Second

// Client talks to one router's REST API. It is safe for concurrent use and
// keeps at most one request in flight (the router serialises REST requests
// anyway, and parallel requests can be answered 5xx), over one kept-alive
// connection.
type Client struct {
	name       string
	base       string // scheme://host[:port][/prefix]/rest
	user       string
	secrets    []string // the password and its encodings: never in errors or logs
	timeout    time.Duration
	caFile     string
	skipVerify bool
	rc         *resty.Client
	log        *slog.Logger
	debug      bool

	sem chan struct{} // one request in flight

	namesMu sync.Mutex
	names   map[string]string // menu + "\x00" + .id -> name or comment, for error messages
}

// New builds a client. It checks the URL and reads CAFile; it sends
// nothing.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("router %q: url %q: want http://host[:port] or https://host[:port]", cfg.Name, redactURL(cfg.URL))
	}
	user, pass := cfg.Username, cfg.Password.Reveal()
	if u.User != nil {
		// Credentials in the url are moved to the Authorization header so
		// that they never show up in a logged or printed URL.
		if user == "" {
			user = u.User.Username()
		}
		if p, ok := u.User.Password(); ok && pass == "" {
			pass = p
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment = "", ""
	base := strings.TrimRight(u.String(), "/")
	if !strings.HasSuffix(base, "/rest") {
		base += "/rest"
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{
		name:       cfg.Name,
		base:       base,
		user:       user,
		timeout:    timeout,
		caFile:     cfg.CAFile,
		skipVerify: cfg.TLSSkipVerify,
		log:        cfg.Logger,
		debug:      cfg.Debug && cfg.Logger != nil,
		sem:        make(chan struct{}, 1),
		names:      map[string]string{},
	}
	if pass != "" {
		c.secrets = []string{
			pass,
			base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)),
			base64.StdEncoding.EncodeToString([]byte(pass)),
			url.QueryEscape(pass), url.PathEscape(pass),
		}
	}

	tr := cfg.Transport
	if tr == nil {
		roots := cfg.RootCAs
		if roots == nil {
			roots, err = x509.SystemCertPool()
			if err != nil || roots == nil {
				roots = x509.NewCertPool()
			}
			if cfg.CAFile != "" {
				if err := AppendCAFile(roots, cfg.CAFile); err != nil {
					return nil, fmt.Errorf("router %q: %w", cfg.Name, err)
				}
			}
		}
		dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		tr = &http.Transport{
			// The router is on the local network: never through a proxy.
			Proxy:       nil,
			DialContext: dialer.DialContext,
			TLSClientConfig: &tls.Config{
				RootCAs:            roots,
				InsecureSkipVerify: cfg.TLSSkipVerify, //nolint:gosec // explicit opt-out, warned about at start
				MinVersion:         tls.VersionTLS12,
			},
			TLSHandshakeTimeout: timeout,
			// One connection, kept alive: one login for all requests.
			MaxIdleConns:        1,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
			// RouterOS does not compress its replies; asking for gzip would
			// only invite compression bombs (a reply sent compressed anyway
			// is still decoded, within the cap).
			DisableCompression: true,
		}
	}

	rc := resty.New()
	rc.SetTransport(tr)
	rc.SetBasicAuth(user, pass)
	rc.SetDisableWarn(true)
	rc.SetHeader("Accept", "application/json")
	rc.SetHeader("User-Agent", "wanctl")
	rc.SetLogger(restyLogger{c})
	rc.OnRequestLog(func(rl *resty.RequestLog) error {
		if rl.Header.Get("Authorization") != "" {
			rl.Header.Set("Authorization", "Basic (sensitive)")
		}
		rl.Body = c.redact(rl.Body)
		return nil
	})
	rc.OnResponseLog(func(rl *resty.ResponseLog) error {
		rl.Body = c.redact(rl.Body)
		return nil
	})
	// A redirect would take the credentials elsewhere: report it instead.
	rc.GetClient().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.rc = rc
	return c, nil
}

// Name returns the router's name (Config.Name).
func (c *Client) Name() string { return c.name }

// BaseURL returns the REST base URL (".../rest"), without credentials.
func (c *Client) BaseURL() string { return c.base }

// List reads a whole menu with one GET.
func (c *Client) List(ctx context.Context, menu string) ([]Object, error) {
	return c.Query(ctx, menu, Query{})
}

// Query reads a menu with one GET, filtered by equalities and/or narrowed to
// some fields. With a Proplist the objects may lack ".id" unless it is listed.
func (c *Client) Query(ctx context.Context, menu string, q Query) ([]Object, error) {
	var v url.Values
	if len(q.Filter) > 0 || len(q.Proplist) > 0 {
		v = url.Values{}
		for k, val := range q.Filter {
			v.Set(k, val)
		}
		if len(q.Proplist) > 0 {
			v.Set(".proplist", strings.Join(q.Proplist, ","))
		}
	}
	rq := request{method: http.MethodGet, menu: menu, query: v, read: true}
	body, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	objs, derr := decodeObjects(body, isSingleton(menu))
	if derr != nil {
		return nil, c.protocolError(rq, derr)
	}
	c.remember(menu, objs...)
	return objs, nil
}

// Print reads a menu with one POST <menu>/print whose ".query" is a RouterOS
// API query (stack words such as "list=a", "list=b", "#|"): unlike a GET's
// ANDed equalities it can OR, so objects of several lists or tables come
// back in one request instead of one request each.
func (c *Client) Print(ctx context.Context, menu string, query []string) ([]Object, error) {
	b, err := json.Marshal(map[string][]string{".query": query})
	if err != nil {
		return nil, fmt.Errorf("routeros: encode print: %w", err)
	}
	rq := request{method: http.MethodPost, menu: menu, command: "print", body: b, read: true}
	body, derr := c.do(ctx, rq)
	if derr != nil {
		return nil, derr
	}
	objs, perr := decodeObjects(body, false)
	if perr != nil {
		return nil, c.protocolError(rq, perr)
	}
	c.remember(menu, objs...)
	return objs, nil
}

// Get reads one object by .id (or by name, for menus with names).
func (c *Client) Get(ctx context.Context, menu, id string) (Object, error) {
	rq := request{method: http.MethodGet, menu: menu, id: id, read: true}
	body, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	o, derr := decodeObject(body)
	if derr != nil {
		return nil, c.protocolError(rq, derr)
	}
	c.remember(menu, o)
	return o, nil
}

// Add creates an object (PUT) and returns it as the router stored it,
// including its ".id" (a reply without one is an error). A "place-before"
// field (an .id) positions ordered entries such as firewall rules.
func (c *Client) Add(ctx context.Context, menu string, fields Object) (Object, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("routeros: encode fields: %w", err)
	}
	rq := request{method: http.MethodPut, menu: menu, body: b, name: labelOf(fields)}
	body, rerr := c.do(ctx, rq)
	if rerr != nil {
		return nil, rerr
	}
	o, derr := decodeWritten(body)
	if derr != nil {
		return nil, c.protocolError(rq, derr)
	}
	c.remember(menu, o)
	return o, nil
}

// Set changes fields of one object (PATCH) and returns the whole updated
// object; a reply that is not an object with an ".id" is an error (the
// write may or may not have been applied). After a bad-request error,
// re-read: the router does not always roll a refused PATCH back.
func (c *Client) Set(ctx context.Context, menu, id string, fields Object) (Object, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("routeros: encode fields: %w", err)
	}
	rq := request{method: http.MethodPatch, menu: menu, id: id, body: b, name: labelOf(fields)}
	body, rerr := c.do(ctx, rq)
	if rerr != nil {
		return nil, rerr
	}
	o, derr := decodeWritten(body)
	if derr != nil {
		return nil, c.protocolError(rq, derr)
	}
	c.remember(menu, o)
	return o, nil
}

// Remove deletes one object. Any 2xx is success; a missing object is a
// KindNotFound error (IsNotFound) the caller may treat as done.
func (c *Client) Remove(ctx context.Context, menu, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, menu: menu, id: id})
	if err == nil {
		c.namesMu.Lock()
		delete(c.names, menu+"\x00"+id)
		c.namesMu.Unlock()
	}
	return err
}

// Enable enables objects (POST <menu>/enable). No ids is a no-op.
func (c *Client) Enable(ctx context.Context, menu string, ids ...string) error {
	return c.command(ctx, menu, "enable", ids, nil)
}

// Disable disables objects (POST <menu>/disable). No ids is a no-op.
func (c *Client) Disable(ctx context.Context, menu string, ids ...string) error {
	return c.command(ctx, menu, "disable", ids, nil)
}

// ResetCounters zeroes the counters of objects (POST <menu>/reset-counters).
func (c *Client) ResetCounters(ctx context.Context, menu string, ids ...string) error {
	return c.command(ctx, menu, "reset-counters", ids, nil)
}

// Move moves objects, in the given order, right before the object
// destination; destination "" moves them to the end of the menu.
func (c *Client) Move(ctx context.Context, menu string, ids []string, destination string) error {
	var extra map[string]string
	if destination != "" {
		extra = map[string]string{"destination": destination}
	}
	return c.command(ctx, menu, "move", ids, extra)
}

func (c *Client) command(ctx context.Context, menu, cmd string, ids []string, extra map[string]string) error {
	if len(ids) == 0 {
		return nil
	}
	payload := map[string]string{"numbers": strings.Join(ids, ",")}
	for k, v := range extra {
		payload[k] = v
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("routeros: encode command: %w", err)
	}
	name := ""
	if len(ids) == 1 {
		name = c.lookupName(menu, ids[0])
	}
	_, rerr := c.do(ctx, request{method: http.MethodPost, menu: menu, command: cmd, id: strings.Join(ids, ","), body: b, name: name})
	return rerr
}

// request is one REST call.
type request struct {
	method  string
	menu    string
	id      string // object addressed (path), or the ids of a command
	command string // POST <menu>/<command>
	query   url.Values
	body    []byte
	name    string // known name of the object, for errors
	read    bool   // a read: safe to retry once after a transport error
}

// maxLoggedBody is how much of a reply body Config.Debug logs.
const maxLoggedBody = 64 << 10

// maxReply is the largest reply body the request may get.
func (rq request) maxReply() int64 {
	if rq.method == http.MethodGet && rq.id == "" || rq.command == "print" {
		return MaxMenuReply
	}
	return MaxObjectReply
}

func (rq request) url(base string) string {
	u := base + "/" + strings.Trim(rq.menu, "/")
	switch {
	case rq.command != "":
		u += "/" + rq.command
	case rq.id != "":
		// "*" is a valid path character; keep ids readable ("*1", not "%2A1").
		u += "/" + strings.ReplaceAll(url.PathEscape(rq.id), "%2A", "*")
	}
	if len(rq.query) > 0 {
		u += "?" + rq.query.Encode()
	}
	return u
}

// do sends one request (at most one in flight per client) and returns the
// body of a 2xx reply, or an *Error.
func (c *Client) do(ctx context.Context, rq request) ([]byte, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, c.newError(rq, KindCanceled, ctx.Err(), "")
	}
	defer func() { <-c.sem }()

	attempts := 1
	if rq.read {
		attempts = 2
	}
	var last *Error
	for a := 0; a < attempts; a++ {
		body, err := c.once(ctx, rq)
		if err == nil {
			return body, nil
		}
		last = err
		if err.Kind != KindTransport || ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (c *Client) once(ctx context.Context, rq request) ([]byte, *Error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	// The body is read here, not by resty: under the request's deadline and
	// within the reply cap.
	r := c.rc.R().SetContext(actx).SetDoNotParseResponse(true)
	if rq.body != nil {
		r.SetHeader("Content-Type", "application/json").SetBody(rq.body)
	}
	if c.debug {
		r.SetDebug(true)
	}
	resp, err := r.Execute(rq.method, rq.url(c.base))
	status := 0
	var body []byte
	if resp != nil && resp.RawResponse != nil {
		status = resp.StatusCode()
		if err == nil {
			body, err = readBody(actx, resp.RawResponse, rq.maxReply())
		} else {
			_ = resp.RawBody().Close()
		}
	}
	if c.log != nil && c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "router request",
			slog.String("router", c.name), slog.String("method", rq.method),
			slog.String("path", strings.TrimPrefix(rq.url(""), "/")), slog.Int("status", status),
			slog.Int("bytes", len(body)), slog.Duration("duration", time.Since(start)))
		if c.debug && err == nil {
			// Redacted before it is cut: a cut could split the password.
			shown := c.redact(string(body))
			c.log.LogAttrs(ctx, slog.LevelDebug, "router reply", slog.String("router", c.name),
				slog.String("body", shown[:min(len(shown), maxLoggedBody)]))
		}
	}
	if err != nil {
		var tl *tooLargeError
		switch {
		case ctx.Err() != nil:
			return nil, c.newError(rq, KindCanceled, ctx.Err(), "")
		case errors.Is(err, context.DeadlineExceeded) || actx.Err() != nil || isNetTimeout(err):
			return nil, c.newError(rq, KindTimeout, err,
				fmt.Sprintf("no reply within %s; check that url is right and the router reachable, or raise timeout in router %q", c.timeout, c.name))
		case errors.As(err, &tl):
			return nil, c.newError(rq, KindProtocol, err, tl.hint())
		}
		kind, hint := c.classifyTransport(err)
		return nil, c.newError(rq, kind, err, hint)
	}
	if status >= 200 && status < 300 {
		return body, nil
	}
	return nil, c.statusError(rq, status, resp.Header().Get("Location"), body)
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classifyTransport names the failure and what to do about it.
func (c *Client) classifyTransport(err error) (Kind, string) {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &he):
		if strings.Contains(he.Error(), "legacy Common Name") {
			return KindTLS, "the router's certificate names its host only in the Common Name: create one with subject-alt-name set to the url's host, or set tls_skip_verify = true"
		}
		return KindTLS, "the router's certificate is not valid for the url's host: use the host name or address the certificate names, or set tls_skip_verify = true"
	case errors.As(err, &ci):
		return KindTLS, "the router's certificate is expired or not usable for a server: renew it on the router, or set tls_skip_verify = true"
	case errors.As(err, &ua), errors.As(err, &cve):
		if c.caFile != "" {
			return KindTLS, fmt.Sprintf("the certificate is not signed by ca_file %q: set ca_file to the router's CA certificate, or tls_skip_verify = true", c.caFile)
		}
		return KindTLS, "the router's certificate is self-signed or from an unknown CA: set ca_file to the router's CA certificate, or tls_skip_verify = true"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return KindProtocol, "this port speaks plain HTTP: use an http:// url, or the router's www-ssl port for https://"
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return KindProtocol, "this port does not speak TLS: use an http:// url, or the router's www-ssl port for https://"
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindTransport, "nothing listens there: check url, and that the REST service (www or www-ssl) is enabled on the router"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindTransport, "the router closed the connection; it may be restarting or overloaded"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return KindTransport, "cannot resolve the url's host name: check url"
	}
	return KindTransport, "check url and that the router is reachable"
}

func (c *Client) statusError(rq request, status int, location string, body []byte) *Error {
	var msg, detail string
	if o, ok := restjson.ErrorReply(body); ok {
		msg, detail = o["message"], o["detail"]
	} else if t := strings.TrimSpace(snippet(body, 200)); t != "" {
		detail = t
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	kind, hint := KindProtocol, ""
	switch {
	case status == http.StatusBadRequest:
		kind = KindBadRequest
		if detail == "Session closed" {
			hint = "the router cut the request off; it may have been applied anyway: re-read before retrying"
		}
	case status == http.StatusUnauthorized:
		kind, hint = KindUnauthorized, fmt.Sprintf("check username/password in router %q, and that the user's group has the api/rest-api and read/write policies", c.name)
	case status == http.StatusForbidden:
		kind, hint = KindUnauthorized, fmt.Sprintf("the user in router %q lacks a policy the request needs (read, write, api/rest-api)", c.name)
	case status == http.StatusNotFound:
		kind, hint = KindNotFound, "the object does not exist, or no longer does: re-read the menu"
	case status == http.StatusNotAcceptable:
		kind, hint = KindNotAcceptable, "this menu does not have that command"
	case status >= 500:
		kind, hint = KindServer, "the router failed the request; retry later"
	case status >= 300 && status < 400:
		hint = "the router redirects"
		if location != "" {
			hint += " to " + location + ": set url to that address"
		}
	}
	e := c.newError(rq, kind, nil, hint)
	e.Status, e.Message, e.Detail = status, c.redact(msg), c.redact(detail)
	return e
}

func (c *Client) protocolError(rq request, err error) error {
	return c.newError(rq, KindProtocol, err, "the reply is not what the RouterOS REST API sends: check that url points at the router")
}

func (c *Client) newError(rq request, kind Kind, err error, hint string) *Error {
	name := rq.name
	if name == "" && rq.id != "" && rq.command == "" {
		name = c.lookupName(rq.menu, rq.id)
	}
	e := &Error{
		Kind: kind, Router: c.name, Method: rq.method, Menu: strings.Trim(rq.menu, "/"),
		ID: rq.id, Name: name, Command: rq.command, Hint: hint, Err: err,
	}
	if err != nil {
		e.cause = c.redact(err.Error())
	}
	return e
}

// redact removes the password (and its encodings) from s: every
// occurrence that stands as a token of its own. One inside a longer name
// is left (a password "wanctl" must not garble "wanctl-cable-down" in the
// request a message names).
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = replaceToken(s, sec, redacted)
		}
	}
	return s
}

// replaceToken replaces the occurrences of tok in s that no letter, digit,
// '-', '_' or '.' touches on either side.
func replaceToken(s, tok, with string) string {
	var b strings.Builder
	var prev byte // the original byte before s[0]; 0 at the start
	for {
		i := strings.Index(s, tok)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(tok)
		p := prev
		if i > 0 {
			p = s[i-1]
		}
		if !wordByte(p) && (end == len(s) || !wordByte(s[end])) {
			b.WriteString(s[:i])
			b.WriteString(with)
		} else {
			b.WriteString(s[:end])
		}
		prev = s[end-1]
		s = s[end:]
	}
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if i := strings.Index(raw, "@"); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				return raw[:j+3] + redacted + raw[i:]
			}
		}
		return raw
	}
	u.User = nil
	return u.String()
}

// labelOf is what names an object in messages: its name, else its comment.
func labelOf(o Object) string {
	if n := o["name"]; n != "" {
		return n
	}
	return o["comment"]
}

const maxNames = 10000

func (c *Client) remember(menu string, objs ...Object) {
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	for _, o := range objs {
		id, label := o[".id"], labelOf(o)
		if id == "" || label == "" {
			continue
		}
		if len(c.names) >= maxNames {
			clear(c.names)
		}
		c.names[menu+"\x00"+id] = label
	}
}

func (c *Client) lookupName(menu, id string) string {
	c.namesMu.Lock()
	defer c.namesMu.Unlock()
	return c.names[menu+"\x00"+id]
}

// restyLogger sends resty's own messages (and debug dumps) to the client's
// logger, redacted; with no logger they are dropped.
type restyLogger struct{ c *Client }

func (l restyLogger) logf(level slog.Level, format string, v ...any) {
	if l.c.log == nil {
		return
	}
	l.c.log.Log(context.Background(), level, l.c.redact(fmt.Sprintf(format, v...)), slog.String("router", l.c.name))
}
func (l restyLogger) Errorf(format string, v ...any) { l.logf(slog.LevelError, format, v...) }
func (l restyLogger) Warnf(format string, v ...any)  { l.logf(slog.LevelWarn, format, v...) }
func (l restyLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v...) }
