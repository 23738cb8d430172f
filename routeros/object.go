// Package routeros is a client for the RouterOS v7 REST API (one request in
// flight per router, typed errors, tolerant parsing). Its subpackage emulator
// is a faithful in-memory RouterOS for tests, the simulator and the demo.
package routeros

// Menus wanctl uses, as REST paths below /rest (no leading or trailing slash).
const (
	MenuQueueType       = "queue/type"
	MenuQueueTree       = "queue/tree"
	MenuMangle          = "ip/firewall/mangle"
	MenuMangle6         = "ipv6/firewall/mangle"
	MenuFilter          = "ip/firewall/filter"
	MenuNAT             = "ip/firewall/nat"
	MenuAddressList     = "ip/firewall/address-list"
	MenuRoutingTable    = "routing/table"
	MenuRoutingRule     = "routing/rule"
	MenuRoute           = "ip/route"
	MenuInterface       = "interface"
	MenuInterfaceList   = "interface/list"
	MenuInterfaceMember = "interface/list/member"
	MenuResource        = "system/resource"
)

// Object is one RouterOS object as the REST API returns it: every value is a
// string, absent keys are absent (an empty comment is never ""), flags are ""
// when set. It is also the field set for writes.
type Object map[string]string

// ID returns the object's ".id" ("" when the reply had none).
func (o Object) ID() string { return o[".id"] }

// Query narrows a list request: Filter is an AND of equalities
// (GET /rest/<menu>?k=v&...), Proplist names the fields to return
// (".proplist"; the reply may or may not include ".id").
type Query struct {
	Filter   map[string]string
	Proplist []string
}
