# A WAN for the measured trace TMobile-LTE-short.csv (../shared/traces/, not in this
# repository): ceilings near the trace's maximum, floors below its low
# phases, every other setting at its default. BENCHMARKS.md, "Traces".
#   WANCTL_ROUTER_PASSWORD=x wanctl simulate -config sim/testdata/trace-lte-short.hcl -trace ../shared/traces/TMobile-LTE-short.csv

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
    ceiling = "60M"

    floor {
      green    = "1M"
      yellow   = "1M"
      soft_red = "1M"
      red      = "1M"
    }
  }

  upload {
    ceiling = "30M"

    floor {
      green  = "1M"
      yellow = "1M"
      red    = "1M"
    }
  }
}
