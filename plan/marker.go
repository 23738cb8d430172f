package plan

import (
	"fmt"
	"strings"

	"github.com/wanctl/wanctl/routeros"
)

// MarkerPrefix starts the comment of every object wanctl owns. The rest of
// the comment is the object's address ("wanctl:wan.spectrum.download.queue").
const MarkerPrefix = "wanctl:"

// SteerConnectionMark is the connection mark the steering mark-connection
// rules set and the mark-routing rule matches.
const SteerConnectionMark = "wanctl-steer"

// NotSteeredList is the address list of destinations that are never steered.
const NotSteeredList = "wanctl-not-steered"

// NotSteeredBuiltin are the destinations always in NotSteeredList: private
// (RFC 1918), shared/CGNAT (RFC 6598), link-local and multicast space. None
// of them is reachable through the alternate WAN's public path. 127.0.0.0/8
// is left out: loopback destinations never arrive on a LAN interface, and
// dst-address-type=!local already excludes the router itself.
var NotSteeredBuiltin = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"100.64.0.0/10", "169.254.0.0/16", "224.0.0.0/4",
}

// Marker returns the comment that marks the object at address as wanctl's.
func Marker(address string) string { return MarkerPrefix + address }

// AddressOf returns the address in a wanctl marker comment.
func AddressOf(comment string) (string, bool) {
	if !strings.HasPrefix(comment, MarkerPrefix) || len(comment) == len(MarkerPrefix) {
		return "", false
	}
	return comment[len(MarkerPrefix):], true
}

// IsMarked reports whether the object carries a wanctl marker comment.
func IsMarked(o routeros.Object) bool {
	_, ok := AddressOf(o["comment"])
	return ok
}

// Addresses of the objects wanctl owns. They are stable identifiers: the
// comment of an object is Marker(address), plan output names objects by
// address, and changing an address means destroying one object and creating
// another.

// QueueTypeAddress is the address of a WAN direction's CAKE queue type (a
// queue type has no comment: the address is only used in plan output).
func QueueTypeAddress(wan, direction string) string {
	return "wan." + wan + "." + direction + ".queue_type"
}

// QueueAddress is the address of a WAN direction's queue-tree entry.
func QueueAddress(wan, direction string) string { return "wan." + wan + "." + direction + ".queue" }

// PacketMarkAddress is the address of a WAN's download mark-packet rule in
// /ip/firewall/mangle; PacketMark6Address the one in /ipv6/firewall/mangle.
func PacketMarkAddress(wan string) string  { return "wan." + wan + ".download.mark" }
func PacketMark6Address(wan string) string { return "wan." + wan + ".download.mark_ipv6" }

// RoutingTableAddress, RouteAddress and PinRuleAddress name a WAN's routing
// table, its default route and the routing rule pinning one reflector.
func RoutingTableAddress(wan string) string { return "wan." + wan + ".routing_table" }
func RouteAddress(wan string) string        { return "wan." + wan + ".route" }
func PinRuleAddress(wan, reflector string) string {
	return "wan." + wan + ".pin." + reflector
}

// SteerRuleAddress is the address of a steering rule's mark-connection
// mangle rule; a rule with DSCP values has one mangle rule per value,
// addressed by SteerRuleDSCPAddress.
func SteerRuleAddress(rule string) string { return "steering.rule." + rule }
func SteerRuleDSCPAddress(rule string, dscp int) string {
	return fmt.Sprintf("steering.rule.%s.dscp-%d", rule, dscp)
}

// MarkRoutingAddress is the address of the steering mark-routing rule.
const MarkRoutingAddress = "steering.mark_routing"

// NotSteeredAddress and AddressListAddress name one address-list entry of
// NotSteeredList and of a user's address list.
func NotSteeredAddress(addr string) string { return "steering.not_steered." + addr }
func AddressListAddress(list, addr string) string {
	return "steering.address_list." + list + "." + addr
}

const steerRulePrefix = "steering.rule."

// IsSteeringRule reports whether o is one of wanctl's steering
// mark-connection rules in /ip/firewall/mangle: the rules `wanctl steer`
// enables and disables. The mark-routing rule is not one of them.
func IsSteeringRule(o routeros.Object) bool {
	a, ok := AddressOf(o["comment"])
	return ok && strings.HasPrefix(a, steerRulePrefix) && o["action"] == "mark-connection"
}

// SteeringRules returns the steering mark-connection rules among the objects
// of /ip/firewall/mangle, in menu order (one GET of the menu finds them all).
func SteeringRules(mangle []routeros.Object) []routeros.Object {
	var out []routeros.Object
	for _, o := range mangle {
		if IsSteeringRule(o) {
			out = append(out, o)
		}
	}
	return out
}
