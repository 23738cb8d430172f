package routeros

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an Error by what the caller should do about it.
type Kind int

// Error kinds. The zero Kind is never used.
const (
	// KindNotFound: 404, the object does not exist (any more): re-read the menu.
	KindNotFound Kind = iota + 1
	// KindBadRequest: 400, the router refused the request; Detail has its words.
	// A 400 is not always atomic: re-read before assuming nothing changed.
	KindBadRequest
	// KindUnauthorized: 401, wrong username or password.
	KindUnauthorized
	// KindNotAcceptable: 406, the menu has no such command.
	KindNotAcceptable
	// KindServer: 5xx, the router failed (often: too many requests at once).
	KindServer
	// KindTransport: no HTTP reply (connection refused, reset, closed).
	KindTransport
	// KindTimeout: no reply within the router's timeout.
	KindTimeout
	// KindTLS: the router's certificate was not accepted.
	KindTLS
	// KindProtocol: a reply that is not what the REST API sends (other
	// statuses, a 2xx body that is not JSON).
	KindProtocol
	// KindCanceled: the caller's context ended before the request finished.
	KindCanceled
)

var kindNames = map[Kind]string{
	KindNotFound: "not found", KindBadRequest: "bad request", KindUnauthorized: "unauthorized",
	KindNotAcceptable: "not acceptable", KindServer: "server error", KindTransport: "transport",
	KindTimeout: "timeout", KindTLS: "tls", KindProtocol: "protocol", KindCanceled: "canceled",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is every error the client returns for a request. Its text names the
// router, the method, the menu, the object (and its name when known), the
// router's own words and what to do; it never contains the password.
type Error struct {
	Kind    Kind
	Router  string // the router block's name
	Method  string // HTTP method
	Menu    string // e.g. "queue/tree"
	ID      string // object .id (or name) addressed; for commands the ids, comma separated
	Name    string // the object's name (or comment) when the client knows it
	Command string // POST command ("enable", "move", ...), "" otherwise
	Status  int    // HTTP status, 0 when there was no reply
	Message string // the router's "message" ("Bad Request")
	Detail  string // the router's "detail" ("unknown parameter foo")
	Hint    string // what to do about it
	Err     error  // the underlying cause (transport errors, context errors)

	cause string // Err's text with credentials removed
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Router != "" {
		fmt.Fprintf(&b, "router %q: ", e.Router)
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Menu)
	if e.Command != "" {
		b.WriteString("/" + e.Command)
		if e.ID != "" {
			b.WriteString(" " + e.ID)
		}
	} else if e.ID != "" {
		b.WriteString("/" + e.ID)
	}
	if e.Name != "" {
		fmt.Fprintf(&b, " (%q)", e.Name)
	}
	b.WriteString(": ")
	switch {
	case e.Status != 0:
		fmt.Fprintf(&b, "%d", e.Status)
		if e.Message != "" {
			b.WriteString(" " + e.Message)
		}
		if e.Detail != "" {
			b.WriteString(": " + e.Detail)
		}
		if e.cause != "" {
			b.WriteString(": " + e.cause)
		}
	case e.cause != "":
		b.WriteString(e.cause)
	default:
		b.WriteString(e.Kind.String())
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the underlying cause, so errors.Is(err, context.Canceled)
// and friends work.
func (e *Error) Unwrap() error { return e.Err }

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// IsNotFound reports whether err is a 404: the object does not exist.
func IsNotFound(err error) bool { return kindOf(err) == KindNotFound }

// IsBadRequest reports whether the router refused the request (400).
func IsBadRequest(err error) bool { return kindOf(err) == KindBadRequest }

// IsUnauthorized reports whether the credentials were refused (401).
func IsUnauthorized(err error) bool { return kindOf(err) == KindUnauthorized }

// IsTimeout reports whether the router did not answer within the timeout.
func IsTimeout(err error) bool { return kindOf(err) == KindTimeout }

// IsTransient reports whether trying again later may succeed: no reply,
// a timeout or a 5xx.
func IsTransient(err error) bool {
	switch kindOf(err) {
	case KindTransport, KindTimeout, KindServer:
		return true
	}
	return false
}
