package commands

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/wanctl/wanctl/routeros/emulator"
	"github.com/wanctl/wanctl/statefile"
)

// emulatorConfig is what `wanctl emulator` serves.
type emulatorConfig struct {
	latency     time.Duration
	user        string
	password    string
	tls         bool
	caOut       string // where -tls writes the CA certificate; "" = a new temporary directory
	faults      []emulator.Fault
	allowRemote bool
	// passwordFromEnv: the password came from $WANCTL_EMULATOR_PASSWORD;
	// the usage text then names the variable instead of printing it.
	passwordFromEnv bool
}

func emulatorCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "emulator",
		Usage: "serve the built-in RouterOS REST emulator (try plan/apply with no router)",
		Description: "Serves an in-memory RouterOS v7 REST API with a default configuration (interfaces\n" +
			"ether1..ether8, sfp-sfpplus1, bridge, pppoe-out1, lte1; lists WAN and LAN; defconf\n" +
			"firewall with FastTrack). It prints a router block to paste into a configuration.\n" +
			"State lives in memory and is lost on exit. See docs/emulator.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to serve on (loopback only unless -allow-remote)"},
			&cli.DurationFlag{Name: "latency", Value: 20 * time.Millisecond, Usage: "processing time added to every request (requests are served one at a time)"},
			&cli.StringFlag{Name: "user", Value: "wanctl", Usage: "Basic auth username"},
			&cli.StringFlag{Name: "password", Value: "wanctl", Usage: "Basic auth password (also $WANCTL_EMULATOR_PASSWORD)"},
			&cli.BoolFlag{Name: "tls", Usage: "serve HTTPS with a fresh self-signed CA (its certificate is written for ca_file)"},
			&cli.StringFlag{Name: "ca-out", Usage: "with -tls: file to write the CA certificate to (default: in a new temporary directory)"},
			&cli.StringFlag{Name: "faults", Usage: "faults for the first matching requests, e.g. \"5xx:3,hang:2s,drop:1,400applied:1@PATCH\" (see docs/emulator.md)"},
			&cli.BoolFlag{Name: "allow-remote", Usage: "allow a -listen address that is not loopback (anyone who can reach it can change the emulated router)"},
		},
		Action: func(c *cli.Context) error {
			logger, _, err := newLogger(c, stdio)
			if err != nil {
				return err
			}
			cfg := emulatorConfig{
				latency:     c.Duration("latency"),
				user:        c.String("user"),
				password:    c.String("password"),
				tls:         c.Bool("tls"),
				caOut:       c.String("ca-out"),
				allowRemote: c.Bool("allow-remote"),
			}
			if p := stdio.getenv("WANCTL_EMULATOR_PASSWORD"); p != "" && !c.IsSet("password") {
				cfg.password = p
				cfg.passwordFromEnv = true
			}
			if cfg.latency < 0 {
				return cli.Exit(fmt.Sprintf("-latency %s: must not be negative", cfg.latency), 1)
			}
			if cfg.user == "" {
				return cli.Exit("-user is empty: the emulator always asks for credentials (use e.g. -user wanctl)", 1)
			}
			if s := c.String("faults"); s != "" {
				if cfg.faults, err = emulator.ParseFaults(s); err != nil {
					return cli.Exit("-faults: "+err.Error(), 1)
				}
			}
			addr := c.String("listen")
			if !emuLoopbackOnly(addr) {
				if !cfg.allowRemote {
					return cli.Exit(fmt.Sprintf("-listen %q is not a loopback address: anyone who can reach it could change the emulated router; use 127.0.0.1:PORT, or add -allow-remote if you mean it", addr), 1)
				}
				logger.Warn("THE EMULATOR IS REACHABLE FROM OTHER HOSTS: anyone who can reach it and knows the credentials can change it", "listen", addr)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return cli.Exit(fmt.Sprintf("-listen %q: %v (is another emulator already running there? pick another port)", addr, err), 1)
			}
			if err := serveEmulator(ctx, ln, cfg, stdio.Out, logger); err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}

// emuLoopbackOnly reports whether a host:port listen address is loopback only.
func emuLoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveEmulator serves an emulator on ln until ctx ends (then it shuts down
// and returns nil). It prints how to use it to out.
func serveEmulator(ctx context.Context, ln net.Listener, cfg emulatorConfig, out io.Writer, logger *slog.Logger) error {
	defer ln.Close()
	emu := emulator.New(emulator.Config{
		Username: cfg.user,
		Password: cfg.password,
		Latency:  cfg.latency,
		OnRequest: func(r emulator.Request) {
			logger.Info("request", "method", r.Method, "path", r.Path, "query", r.Query,
				"status", r.Status, "duration", r.Duration.Round(time.Microsecond))
		},
	})
	for _, f := range cfg.faults {
		emu.Inject(f)
	}

	scheme := "http"
	caFile := ""
	if cfg.tls {
		var cleanup func()
		var tlsConf *tls.Config
		var err error
		tlsConf, caFile, cleanup, err = emulatorTLS(ln.Addr(), cfg.caOut)
		if err != nil {
			return err
		}
		defer cleanup()
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}

	base := scheme + "://" + emuConnectAddr(ln.Addr())
	emuPrintUsage(out, base, caFile, cfg)

	srv := &http.Server{
		Handler:           emu,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from curl -k etc.
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("emulator stopped: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // a hanging fault is still holding a request
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("emulator stopped")
	return nil
}

// emuConnectAddr is the address a local client uses to reach a listener: a
// wildcard listen address is reached through loopback.
func emuConnectAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func emuPrintUsage(out io.Writer, base, caFile string, cfg emulatorConfig) {
	curlCA := ""
	if caFile != "" {
		curlCA = "--cacert " + shellQuote(caFile) + " "
	}
	fmt.Fprintf(out, "RouterOS REST emulator at %s/rest (latency %s, one request at a time)\n\n", base, cfg.latency)
	// A password given through the environment stays out of the output
	// (and so out of a journal): the shell lines expand the variable.
	cred, exported := shellQuote(cfg.user+":"+cfg.password), shellQuote(cfg.password)
	if cfg.passwordFromEnv {
		cred, exported = shellQuote(cfg.user+":")+`"$WANCTL_EMULATOR_PASSWORD"`, `"$WANCTL_EMULATOR_PASSWORD"`
	}
	fmt.Fprintf(out, "Try it:\n  curl %s-u %s %s/rest/queue/tree\n\n", curlCA, cred, base)
	fmt.Fprintf(out, "Router block for your configuration:\n\n")
	fmt.Fprintf(out, "router \"emulator\" {\n")
	fmt.Fprintf(out, "  url      = %s\n", emuHCLQuote(base))
	fmt.Fprintf(out, "  username = %s\n", emuHCLQuote(cfg.user))
	fmt.Fprintf(out, "  password = env(\"WANCTL_ROUTER_PASSWORD\")\n")
	if caFile != "" {
		fmt.Fprintf(out, "  ca_file  = %s\n", emuHCLQuote(caFile))
	}
	fmt.Fprintf(out, "}\n\nand in the shell that runs wanctl:\n\n  export WANCTL_ROUTER_PASSWORD=%s\n\n", exported)
	if len(cfg.faults) > 0 {
		names := make([]string, len(cfg.faults))
		for i, f := range cfg.faults {
			names[i] = f.String()
		}
		fmt.Fprintf(out, "Injected faults (for the first matching requests): %s\n\n", strings.Join(names, ","))
	}
	fmt.Fprintf(out, "State is in memory only. Stop with Ctrl-C.\n")
}

// emuHCLQuote renders s as an HCL string literal.
func emuHCLQuote(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// emulatorTLS makes the emulator's throwaway CA and server certificate
// and writes the CA certificate to caOut (or a new temporary directory,
// removed by cleanup).
func emulatorTLS(addr net.Addr, caOut string) (*tls.Config, string, func(), error) {
	cleanup := func() {}
	conf, caPEM, err := emulator.NewTLSConfig(addr)
	if err != nil {
		return nil, "", cleanup, err
	}
	path := caOut
	if path == "" {
		dir, err := os.MkdirTemp("", "wanctl-emulator-")
		if err != nil {
			return nil, "", cleanup, fmt.Errorf("-tls: temporary directory for the CA certificate: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		path = filepath.Join(dir, "ca.pem")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := statefile.WriteAtomic(path, caPEM, 0o644); err != nil {
		cleanup()
		return nil, "", func() {}, fmt.Errorf("-ca-out: %w", err)
	}
	return conf, path, cleanup, nil
}
