// Package reliability holds the fault matrix of issue 16, behind the
// reliability build tag (make reliability): the production plan, apply and
// steer code against the RouterOS emulator with its fault injection, and
// the daemon's HTTP server under a connection flood. docs/reliability.md
// records what it found and what wanctl guarantees under faults.
//
// Router id reuse under the running daemon is not repeated here: it is
// loops/autorate's TestDaemonReusedQueueIDs (misdirect_test.go), part of
// the ordinary go test ./... run. The idle connection flood and the odd
// replies to the daemon's writes and counter reads live in loops/autorate
// (*_reliability_test.go, same tag) because what they shorten, step and
// watch is not exported. kill -9 during apply and hostile configuration
// files for validate and SIGHUP run the built wanctl as a process.
//
// The package has no code outside its tests; this file only gives
// go build ./... a package to find when the tag is off.
package reliability
