package emulator

// SetRouteInactive makes every route whose gateway is gw (the address or
// interface before any "@table") inactive, as the router shows a route whose
// gateway does not resolve or stops answering check-gateway pings: active
// "false", inactive "true", no immediate-gw. It applies to routes added
// later too; inactive false restores them.
func (e *Emulator) SetRouteInactive(gw string, inactive bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deadGW == nil {
		e.deadGW = map[string]bool{}
	}
	if inactive {
		e.deadGW[gw] = true
	} else {
		delete(e.deadGW, gw)
	}
}
