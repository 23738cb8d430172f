package autorate

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// connLimit closes the longest idle connection to make room, never one
// inside a request or not past its first, waits while none is idle, and
// gives up waiting when closed.
func TestConnLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := newConnLimit(raw, 2)
	defer lim.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	type accepted struct {
		c   net.Conn
		err error
	}
	accept := func() chan accepted {
		ch := make(chan accepted, 1)
		go func() {
			c, err := lim.Accept()
			ch <- accepted{c, err}
		}()
		return ch
	}
	got := func(ch chan accepted) net.Conn {
		t.Helper()
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.c
	}
	closedByServer := func(c net.Conn, what string) {
		t.Helper()
		// A safety net only: the close comes first.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v, want it closed (EOF)", what, err)
		}
	}

	a, b := dial(), dial()
	sa, sb := got(accept()), got(accept())
	lim.connState(sa, http.StateActive)
	lim.connState(sb, http.StateActive)
	lim.connState(sb, http.StateIdle)
	lim.connState(sa, http.StateIdle) // sb has been idle longer

	dial()
	got(accept()) // takes sb's place
	closedByServer(b, "the longest idle connection")

	// sa is active and the third not past its first request: a fourth waits
	// until one turns idle, which it then replaces.
	lim.connState(sa, http.StateActive)
	dial()
	waiting := accept()
	lim.connState(sa, http.StateIdle)
	got(waiting)
	closedByServer(a, "the connection that turned idle")

	// Nothing idle, and the listener closes: the waiting Accept returns.
	dial()
	waiting = accept()
	lim.Close()
	if r := <-waiting; !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, %v; want net.ErrClosed", r.c, r.err)
	}
}
