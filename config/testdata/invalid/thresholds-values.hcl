# Durations positive, cycle counts at least 1.
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
    refractory     = "-1s" # ERROR: refractory must be positive
    green_required = 0 # ERROR: green_required out of range
    dwell_cycles   = 1.5 # ERROR: dwell_cycles out of range
    deadband       = "-1ms" # ERROR: deadband must not be negative
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
