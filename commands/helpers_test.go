package commands

// result is one wanctl run as tests see it.
type result struct {
	code     int
	out, err string
}
