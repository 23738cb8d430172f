package commands

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"github.com/wanctl/wanctl/routeros"
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
	// noFastTrack disables the defconf FastTrack rule at start, which
	// `wanctl plan` otherwise refuses.
	noFastTrack bool
	// configOut is where to write the configuration for this emulator;
	// "" prints it instead.
	configOut string
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
			"firewall with FastTrack). It prints a complete two-WAN configuration for it that\n" +
			"validates and plans as it is (-write-config FILE writes it instead), and how to\n" +
			"disable the FastTrack rule that plan refuses (or start with -no-fasttrack).\n" +
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
			&cli.BoolFlag{Name: "no-fasttrack", Usage: "start with the defconf FastTrack rule disabled, ready for wanctl plan (without it FastTrack is on, as on a new router)"},
			&cli.StringFlag{Name: "write-config", Usage: "write the configuration for this emulator to `FILE` instead of printing it (only a file it wrote before is overwritten)"},
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
				noFastTrack: c.Bool("no-fasttrack"),
				configOut:   c.String("write-config"),
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
	fastTrack, err := emuFastTrack(emu, cfg.noFastTrack)
	if err != nil {
		return err
	}

	scheme := "http"
	caFile := ""
	if cfg.tls {
		var cleanup func()
		var tlsConf *tls.Config
		tlsConf, caFile, cleanup, err = emulatorTLS(ln.Addr(), cfg.caOut)
		if err != nil {
			return err
		}
		defer cleanup()
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}

	base := scheme + "://" + emuConnectAddr(ln.Addr())
	if cfg.configOut != "" {
		if err := emuWriteConfig(cfg.configOut, emuConfigFile(base, caFile, cfg)); err != nil {
			return err
		}
	}
	emuPrintUsage(out, base, caFile, cfg, fastTrack)

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

// emuFastTrack disables the enabled FastTrack rules when disable is set,
// and returns the ids of those left enabled (static ones: plan ignores
// dynamic rules).
func emuFastTrack(emu *emulator.Emulator, disable bool) ([]string, error) {
	var ids []string
	for _, o := range emu.Objects(routeros.MenuFilter) {
		if o["action"] != "fasttrack-connection" || o["disabled"] == "true" || o["dynamic"] == "true" {
			continue
		}
		if disable {
			if err := emu.SetObject(routeros.MenuFilter, o.ID(), routeros.Object{"disabled": "true"}); err != nil {
				return nil, fmt.Errorf("-no-fasttrack: %w", err)
			}
			continue
		}
		ids = append(ids, o.ID())
	}
	return ids, nil
}

// emuConfigHeader starts every configuration the emulator writes:
// -write-config overwrites only a file that starts with it.
const emuConfigHeader = "# Written by `wanctl emulator`"

// emuConfigFile is a configuration for the emulator at base that validates
// and plans as it is: two WANs on the emulator's defconf interfaces (ether1
// with its DHCP gateway, ether2 on 192.168.1.0/24), with steering between
// them. host_address is an address on the emulated LAN (192.168.88.0/24),
// which the default pin_routes needs.
func emuConfigFile(base, caFile string, cfg emulatorConfig) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s for the emulator at %s.\n", emuConfigHeader, base)
	b.WriteString("# The emulator's state is in memory: restart it and the router is new again.\n")
	b.WriteString("# The password is the emulator's (-password, default wanctl).\n\n")
	b.WriteString("router \"emulator\" {\n")
	fmt.Fprintf(&b, "  url          = %s\n", emuHCLQuote(base))
	fmt.Fprintf(&b, "  username     = %s\n", emuHCLQuote(cfg.user))
	b.WriteString("  password     = env(\"WANCTL_ROUTER_PASSWORD\")\n")
	if caFile != "" {
		fmt.Fprintf(&b, "  ca_file      = %s\n", emuHCLQuote(caFile))
	}
	b.WriteString("  host_address = \"192.168.88.10\"\n}\n")
	b.WriteString(`
wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]
  }

  download {
    ceiling = "450M"
  }

  upload {
    ceiling = "45M"
  }
}

wan "fibre" {
  interface = "ether2"
  gateway   = "192.168.1.254"

  measurement {
    reflectors = ["1.0.0.1", "8.8.4.4", "149.112.112.112"]
  }

  download {
    ceiling = "90M"
  }

  upload {
    ceiling = "18M"
  }
}

steering {
  primary   = "cable"
  alternate = "fibre"

  rule "voip" {
    protocol  = "udp"
    dst_ports = "3478-3481,5060"
  }
}
`)
	return []byte(b.String())
}

// emuWriteConfig writes the configuration to path, refusing to replace a
// file the emulator did not write (a real configuration, say).
func emuWriteConfig(path string, data []byte) error {
	old, err := os.ReadFile(path)
	switch {
	case err == nil && !bytes.HasPrefix(old, []byte(emuConfigHeader)):
		return fmt.Errorf("-write-config %s: the file exists and was not written by wanctl emulator; remove it or pick another name", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-write-config: %w", err)
	}
	if err := statefile.WriteAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("-write-config: %w", err)
	}
	return nil
}

func emuPrintUsage(out io.Writer, base, caFile string, cfg emulatorConfig, fastTrack []string) {
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
	file := cfg.configOut
	if file == "" {
		file = "emulator.hcl"
		fmt.Fprintf(out, "A configuration for it (save it as %s, or start the emulator with -write-config FILE):\n\n", file)
		out.Write(emuConfigFile(base, caFile, cfg))
		fmt.Fprintf(out, "\n")
	} else {
		fmt.Fprintf(out, "Wrote a configuration for it to %s.\n\n", file)
	}
	fmt.Fprintf(out, "In the shell that runs wanctl:\n\n  export WANCTL_ROUTER_PASSWORD=%s\n", exported)
	fmt.Fprintf(out, "  wanctl validate -config %s\n  wanctl plan -config %s\n\n", shellQuote(file), shellQuote(file))
	if len(fastTrack) > 0 {
		// There is no RouterOS console to type the fix plan prints: the
		// REST call does the same.
		fmt.Fprintf(out, "FastTrack is enabled, as on a new router, and plan refuses that. Disable it with\n")
		for _, id := range fastTrack {
			fmt.Fprintf(out, "  curl %s-u %s -X PATCH -H 'Content-Type: application/json' -d '{\"disabled\":\"true\"}' %s\n",
				curlCA, cred, shellQuote(base+"/rest/ip/firewall/filter/"+id))
		}
		fmt.Fprintf(out, "or start the emulator with -no-fasttrack.\n\n")
	}
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
