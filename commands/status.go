package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wanctl/wanctl/config"
	"github.com/wanctl/wanctl/loops/autorate"
	"github.com/wanctl/wanctl/loops/steer"
)

// statusFormatVersion is status -json's format_version; like plan's and
// simulate's it changes only when a field changes meaning or goes away.
const statusFormatVersion = 1

// staleAfter is the age past which a state file no longer shows a running
// daemon: it touches the file every 2 s.
const staleAfter = 5 * time.Second

// exitNotRunning is status's exit code when nothing shows autorate running:
// the daemon does not answer and no WAN has a fresh state file. 1 stays for
// "status could not do its job" (an invalid configuration).
const exitNotRunning = 2

// statusDoc is the `wanctl status -json` document (docs/autorate.md).
type statusDoc struct {
	FormatVersion int `json:"format_version"`
	// Source is "daemon" when /health answered, "state_files" otherwise.
	Source   string          `json:"source"`
	Daemon   statusDaemon    `json:"daemon"`
	WANs     []statusWAN     `json:"wans"`
	Steering *statusSteering `json:"steering,omitempty"`
}

type statusDaemon struct {
	URL       string `json:"url"`
	Reachable bool   `json:"reachable"`
	Status    string `json:"status,omitempty"` // "ok" or "degraded"
	Error     string `json:"error,omitempty"`
}

// statusWAN is one WAN, from the daemon or from its state file.
type statusWAN struct {
	WAN string `json:"wan"`
	// Source is "daemon", "state_file" or "none".
	Source string `json:"source"`
	// StateAgeS is the state file's age (source state_file).
	StateAgeS *float64 `json:"state_age_s,omitempty"`
	// Controlling and DegradedReasons come from the daemon.
	Controlling     *bool                 `json:"controlling,omitempty"`
	DegradedReasons []string              `json:"degraded_reasons,omitempty"`
	Signal          bool                  `json:"signal"`
	Download        statusDir             `json:"download"`
	Upload          statusDir             `json:"upload"`
	BaselineRTTMs   float64               `json:"baseline_rtt_ms"`
	DeltaMs         float64               `json:"delta_ms"`
	ReflectorsAlive *int                  `json:"reflectors_alive,omitempty"`
	ReflectorsTotal int                   `json:"reflectors_total"`
	RouterReachable *bool                 `json:"router_reachable,omitempty"`
	LastWriteAgeS   *float64              `json:"last_write_age_s,omitempty"`
	Cycles          *autorate.CycleHealth `json:"cycles,omitempty"`
	Error           string                `json:"error,omitempty"`
}

type statusDir struct {
	Zone            string `json:"zone"`
	Rate            int64  `json:"rate"`
	LastWrittenRate int64  `json:"last_written_rate"`
}

type statusSteering struct {
	Path  string   `json:"path"`
	State string   `json:"state,omitempty"`
	AgeS  *float64 `json:"age_s,omitempty"`
	Error string   `json:"error,omitempty"`
}

func statusCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show each WAN's zone, rates, baseline and delta (from the daemon's /health, else the state files)",
		ArgsUsage: " ",
		Description: "Asks the running autorate daemon (GET /health on daemon.listen); WANs it does not run are\n" +
			"read from their state files, with their age. Also shows the steering state.\n" +
			"Exit status: 0 the daemon answered or a WAN's state file is fresh (at most 5 s old); 1 an invalid\n" +
			"configuration; 2 autorate is not running: the daemon does not answer and every WAN's state file\n" +
			"is stale or missing (the status is printed all the same).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON document on stdout"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("status takes no arguments (got %q)", c.Args().First()), 1)
			}
			path := configPath(c, stdio)
			cfg, diags := loadConfig(path, stdio, new([]string))
			if cfg == nil {
				diags.WriteText(stdio.Err, useColor(c, stdio, stdio.Err))
				return cli.Exit(fmt.Sprintf("%s is invalid: fix it first (wanctl validate -config %s)", path, path), 1)
			}
			doc := collectStatus(cfg, time.Now())
			if c.Bool("json") {
				b, _ := json.MarshalIndent(doc, "", "  ")
				fmt.Fprintf(stdio.Out, "%s\n", b)
			} else {
				printStatus(stdio.Out, &doc)
			}
			if doc.Daemon.Reachable {
				return nil
			}
			for _, w := range doc.WANs {
				if w.fresh() {
					return nil
				}
			}
			return cli.Exit(fmt.Sprintf("autorate is not running: the daemon is not reachable at %s (%s) and no WAN has a state file in %s updated in the last %s",
				doc.Daemon.URL, doc.Daemon.Error, cfg.Daemon.StateDir, staleAfter), exitNotRunning)
		},
	}
}

// healthURL is the /health URL for daemon.listen; a wildcard host is asked
// on loopback.
func healthURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/health"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health"
}

func fetchHealth(url string) (*autorate.Health, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var h autorate.Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return nil, fmt.Errorf("GET %s: not a wanctl health document: %v", url, err)
	}
	return &h, nil
}

// fresh reports whether w's state file shows a daemon running; a file
// only calibrate wrote (no age) does not.
func (w *statusWAN) fresh() bool {
	return w.Source == "state_file" && w.StateAgeS != nil && *w.StateAgeS <= staleAfter.Seconds()
}

func collectStatus(cfg *config.Config, now time.Time) statusDoc {
	doc := statusDoc{FormatVersion: statusFormatVersion, Source: "state_files", Daemon: statusDaemon{URL: healthURL(cfg.Daemon.Listen)}}
	h, err := fetchHealth(doc.Daemon.URL)
	if err != nil {
		doc.Daemon.Error = err.Error()
	} else {
		doc.Source = "daemon"
		doc.Daemon.Reachable = true
		doc.Daemon.Status = h.Status
	}
	for _, w := range cfg.WANs {
		var sw *statusWAN
		if h != nil {
			for i := range h.WANs {
				if h.WANs[i].WAN == w.Name {
					sw = fromHealth(&h.WANs[i])
				}
			}
		}
		if sw == nil {
			sw = fromStateFile(cfg, w, now)
		}
		doc.WANs = append(doc.WANs, *sw)
	}
	sp := filepath.Join(cfg.Daemon.StateDir, steer.StateFileName)
	if b, err := os.ReadFile(sp); err == nil {
		st := &statusSteering{Path: sp}
		// Not steer.LoadState: status only looks, it never moves a corrupt
		// file aside.
		var ss steer.State
		if err := json.Unmarshal(b, &ss); err != nil {
			st.Error = "unreadable: " + err.Error()
		} else {
			st.State = ss.State
		}
		if fi, err := os.Stat(sp); err == nil {
			a := now.Sub(fi.ModTime()).Seconds()
			st.AgeS = &a
		}
		doc.Steering = st
	} else if !errors.Is(err, fs.ErrNotExist) {
		doc.Steering = &statusSteering{Path: sp, Error: err.Error()}
	}
	return doc
}

func fromHealth(h *autorate.WANHealth) *statusWAN {
	ctl, alive, reach := h.Controlling, h.ReflectorsAlive, h.Router.Reachable
	cycles := h.Cycles
	s := &statusWAN{
		WAN: h.WAN, Source: "daemon", Controlling: &ctl, DegradedReasons: h.DegradedReasons, Signal: h.Signal,
		Download:      statusDir{Zone: h.Download.Zone, Rate: h.Download.Rate, LastWrittenRate: h.Download.LastWrittenRate},
		Upload:        statusDir{Zone: h.Upload.Zone, Rate: h.Upload.Rate, LastWrittenRate: h.Upload.LastWrittenRate},
		BaselineRTTMs: h.BaselineRTTMs, DeltaMs: h.DeltaMs, ReflectorsAlive: &alive, ReflectorsTotal: h.ReflectorsTotal,
		RouterReachable: &reach, Cycles: &cycles,
	}
	for _, a := range []*float64{h.Download.LastWriteAgeS, h.Upload.LastWriteAgeS} {
		if a != nil && (s.LastWriteAgeS == nil || *a < *s.LastWriteAgeS) {
			v := *a
			s.LastWriteAgeS = &v
		}
	}
	return s
}

func fromStateFile(cfg *config.Config, w *config.WAN, now time.Time) *statusWAN {
	s := &statusWAN{WAN: w.Name, Source: "none", ReflectorsTotal: len(w.Measurement.Reflectors)}
	st, err := autorate.ReadState(autorate.StatePath(cfg.Daemon.StateDir, w.Name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.Error = "no state file (autorate has not run for this WAN)"
		} else {
			s.Error = err.Error()
		}
		return s
	}
	s.Source = "state_file"
	if !st.LastSeen().IsZero() {
		a := st.Age(now).Seconds()
		s.StateAgeS = &a
	}
	s.Signal = st.Signal
	s.Download = statusDir{Zone: st.Download.Zone.String(), Rate: st.Download.Rate, LastWrittenRate: st.Download.LastWrittenRate}
	s.Upload = statusDir{Zone: st.Upload.Zone.String(), Rate: st.Upload.Rate, LastWrittenRate: st.Upload.LastWrittenRate}
	s.BaselineRTTMs, s.DeltaMs = st.BaselineRTTMs, st.LoadedDeltaMs
	return s
}

func rateOrDash(r int64) string {
	if r <= 0 {
		return "-"
	}
	return config.FormatRate(r)
}

func fmtAge(s *float64) string {
	if s == nil {
		return "-"
	}
	switch d := time.Duration(*s * float64(time.Second)); {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.0fm ago", d.Minutes())
	default:
		return fmt.Sprintf("%.1fh ago", d.Hours())
	}
}

func printStatus(out io.Writer, doc *statusDoc) {
	if doc.Daemon.Reachable {
		fmt.Fprintf(out, "Source: autorate daemon at %s (%s)\n", doc.Daemon.URL, doc.Daemon.Status)
	} else {
		fmt.Fprintf(out, "Source: state files (the daemon is not reachable at %s: %s)\n", doc.Daemon.URL, doc.Daemon.Error)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WAN\tDOWNLOAD\tUPLOAD\tBASELINE\tDELTA\tREFLECTORS\tROUTER\tLAST WRITE\tSOURCE")
	for _, w := range doc.WANs {
		if w.Source == "none" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", w.WAN, w.Error)
			continue
		}
		dir := func(d statusDir) string {
			s := d.Zone + " " + rateOrDash(d.Rate)
			if d.LastWrittenRate > 0 && d.LastWrittenRate != d.Rate {
				s += " (router " + rateOrDash(d.LastWrittenRate) + ")"
			}
			return s
		}
		refl, router, src := "-", "-", "daemon"
		if w.ReflectorsAlive != nil {
			refl = fmt.Sprintf("%d/%d", *w.ReflectorsAlive, w.ReflectorsTotal)
		}
		if w.RouterReachable != nil {
			router = "reachable"
			if !*w.RouterReachable {
				router = "UNREACHABLE"
			}
		}
		delta := fmt.Sprintf("%.1fms", w.DeltaMs)
		if !w.Signal {
			delta = "no signal"
		}
		if w.Source == "state_file" {
			src = "state file"
			if w.StateAgeS != nil {
				src += ", " + fmtAge(w.StateAgeS)
				if !w.fresh() {
					src += " (stale: autorate not running?)"
				}
			} else {
				src += ", calibration only"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fms\t%s\t%s\t%s\t%s\t%s\n", w.WAN, dir(w.Download), dir(w.Upload), w.BaselineRTTMs,
			delta, refl, router, fmtAge(w.LastWriteAgeS), src)
	}
	tw.Flush()
	for _, w := range doc.WANs {
		if len(w.DegradedReasons) > 0 {
			fmt.Fprintf(out, "%s degraded: %s\n", w.WAN, strings.Join(w.DegradedReasons, "; "))
		}
	}
	if s := doc.Steering; s != nil {
		switch {
		case s.Error != "":
			fmt.Fprintf(out, "Steering: %s: %s\n", s.Path, s.Error)
		default:
			state := s.State
			if state == "" {
				state = "unknown"
			}
			fmt.Fprintf(out, "Steering: %s (%s, updated %s)\n", state, s.Path, fmtAge(s.AgeS))
		}
	}
}
