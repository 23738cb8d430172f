# Steering thresholds.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}

wan "fibre" {
  interface = "ether2"
  gateway   = "192.168.1.254"

  measurement {
    reflectors = ["9.9.9.9", "208.67.222.222"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}

steering {
  primary   = "cable"
  alternate = "fibre"

  rule "voip" {
    protocol = "udp"
  }

  thresholds {
    rtt_yellow     = "30ms" # ERROR: rtt_yellow must not exceed rtt_red
    rtt_ewma_alpha = 1.5 # ERROR: rtt_ewma_alpha out of range
    queue_yellow   = 100 # ERROR: queue_yellow must not exceed queue_red
    red_samples    = 0 # ERROR: red_samples out of range
    state_max_age  = "0s" # ERROR: state_max_age must be positive
    min_drops_red  = -1 # ERROR: min_drops_red out of range
  }
}
