# An LTE/5G router interface: the capacity changes all the time, the idle
# latency is noisy, and the link has no gateway address (the interface is
# the gateway).
#
# Check it:  WANCTL_ROUTER_PASSWORD=wanctl wanctl validate -config examples/lte.hcl

router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "lte" {
  interface = "lte1"
  gateway   = "lte1"

  measurement {
    reflectors   = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    tcp_fallback = ["1.1.1.1:443", "9.9.9.9:443"] # some carriers drop ICMP at times
  }

  download {
    ceiling = "120M"
    step_up = "1M"

    floor {
      green  = "40M"
      yellow = "20M"
      red    = "5M"
    }

    cake {
      diffserv = "besteffort" # carriers bleach DSCP anyway
    }
  }

  upload {
    ceiling = "30M"

    floor {
      red = "2M"
    }

    cake {
      diffserv = "besteffort"
    }
  }

  thresholds {
    # Radio scheduling adds jitter even when idle: react a little later.
    target_bloat   = "30ms"
    warn_bloat     = "80ms"
    hard_red_bloat = "150ms"
    dwell_cycles   = 5
  }

  router_writes {
    min_change = 0.05 # the rate moves a lot; skip writes under 5 %
  }
}
