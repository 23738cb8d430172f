# A WAN for the measured trace TMobile-UMTS-driving.csv (../shared/traces/, not in this
# repository): ceilings near the trace's maximum, floors below its low
# phases (the trace is floored at 0.5M: a shaper floor there equals the
# capacity of a third of the trace, and a queue built before a fall could
# never drain), every other setting at its default. BENCHMARKS.md, "Traces".
#   WANCTL_ROUTER_PASSWORD=x wanctl simulate -config sim/testdata/trace-umts-driving.hcl -trace ../shared/traces/TMobile-UMTS-driving.csv

router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cell" {
  interface = "lte1"
  gateway   = "lte1"

  measurement {
    reflectors   = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    tcp_fallback = ["1.1.1.1:443", "8.8.8.8:443"]
    pin_routes   = false
  }

  download {
    ceiling = "7M"

    floor {
      green    = "0.4M"
      yellow   = "0.4M"
      soft_red = "0.4M"
      red      = "0.4M"
    }
  }

  upload {
    ceiling = "1.5M"

    floor {
      green  = "0.4M"
      yellow = "0.4M"
      red    = "0.4M"
    }
  }
}
