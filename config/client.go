package config

import "github.com/wanctl/wanctl/routeros"

// ClientConfig is what the REST client needs from a router block. The
// conversion lives here, not in routeros, so that the client does not
// depend on the configuration language; the caller adds a logger or
// trust anchors to the result.
func (r *Router) ClientConfig() routeros.Config {
	return routeros.Config{
		Name:          r.Name,
		URL:           r.URL,
		Username:      r.Username,
		Password:      r.Password,
		CAFile:        r.CAFile,
		TLSSkipVerify: r.TLSSkipVerify,
		Timeout:       r.Timeout,
	}
}
