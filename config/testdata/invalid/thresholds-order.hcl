# target_bloat < warn_bloat <= hard_red_bloat; deadband < target_bloat.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  thresholds {
    target_bloat   = "50ms" # ERROR: target_bloat must be below warn_bloat
    hard_red_bloat = "40ms" # ERROR: warn_bloat must not exceed hard_red_bloat
  }

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

  thresholds {
    deadband = "20ms" # ERROR: deadband must be below target_bloat
  }

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
