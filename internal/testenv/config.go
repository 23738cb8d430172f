package testenv

import (
	"fmt"
	"strings"
)

// DualWAN varies the two-WAN configuration with steering that the plan,
// apply and steer tests share: spectrum on ether1 (940M/38M, the steering
// primary) and att on ether2 (300M/100M, the alternate). The zero value is
// the variant most tests use.
type DualWAN struct {
	// Reflectors are spectrum's reflectors; nil: 1.1.1.1 and 8.8.8.8.
	Reflectors []string
	// QueueType names spectrum's download queue type; "": wanctl's default.
	QueueType string
	// NoCake leaves out spectrum's download cake block (overhead = 18).
	NoCake bool
	// Rules are the steering rules, by name and in order, out of "voip"
	// (UDP 3478-3481,5060), "latency-sensitive" (DSCP ef, af31) and
	// "work-vpn" (source address list work-laptops); nil: all three.
	Rules []string
	// Addresses are the work-laptops address list's, written with the
	// work-vpn rule; nil: 192.168.88.50 and 192.168.88.51.
	Addresses []string
	// Thresholds is the body of the steering thresholds block, written as
	// is; "": no block.
	Thresholds string
}

// steeringRules are the bodies of the rules DualWAN.Rules can name.
var steeringRules = map[string]string{
	"voip":              "    protocol  = \"udp\"\n    dst_ports = \"3478-3481,5060\"\n",
	"latency-sensitive": "    dscp = [\"ef\", \"af31\"]\n",
	"work-vpn":          "    src_address_list = \"work-laptops\"\n",
}

// DualWANConfig returns the wan and steering blocks of o's configuration in
// canonical (wanctl fmt) layout; the caller puts its router block, and a
// daemon block if it needs one, in front. An unknown rule name panics: it
// is a mistake in the calling test, found the first time it runs.
func DualWANConfig(o DualWAN) string {
	if o.Reflectors == nil {
		o.Reflectors = []string{"1.1.1.1", "8.8.8.8"}
	}
	if o.Rules == nil {
		o.Rules = []string{"voip", "latency-sensitive", "work-vpn"}
	}
	if o.Addresses == nil {
		o.Addresses = []string{"192.168.88.50", "192.168.88.51"}
	}
	var b strings.Builder
	b.WriteString("\nwan \"spectrum\" {\n  interface = \"ether1\"\n  gateway   = \"100.64.0.1\"\n")
	fmt.Fprintf(&b, "  measurement {\n    reflectors = [%s]\n  }\n", quoteList(o.Reflectors))
	b.WriteString("  download {\n")
	if o.QueueType != "" {
		// hclwrite aligns the equals signs of consecutive attributes.
		fmt.Fprintf(&b, "    ceiling    = \"940M\"\n    queue_type = %q\n", o.QueueType)
	} else {
		b.WriteString("    ceiling = \"940M\"\n")
	}
	if !o.NoCake {
		b.WriteString("    cake {\n      overhead = 18\n    }\n")
	}
	b.WriteString("  }\n  upload {\n    ceiling = \"38M\"\n  }\n}\n")
	b.WriteString(`
wan "att" {
  interface = "ether2"
  gateway   = "192.168.1.254"
  measurement {
    reflectors = ["9.9.9.9"]
  }
  download {
    ceiling = "300M"
  }
  upload {
    ceiling = "100M"
  }
}

steering {
  primary   = "spectrum"
  alternate = "att"
`)
	addressList := false
	for _, r := range o.Rules {
		body, ok := steeringRules[r]
		if !ok {
			panic(fmt.Sprintf("testenv: no steering rule %q in the two-WAN configuration", r))
		}
		fmt.Fprintf(&b, "\n  rule %q {\n%s  }\n", r, body)
		addressList = addressList || r == "work-vpn"
	}
	if addressList {
		fmt.Fprintf(&b, "\n  address_list \"work-laptops\" {\n    addresses = [%s]\n  }\n", quoteList(o.Addresses))
	}
	if o.Thresholds != "" {
		fmt.Fprintf(&b, "\n  thresholds {\n%s\n  }\n", strings.TrimRight(o.Thresholds, "\n"))
	}
	b.WriteString("}\n")
	return b.String()
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
