# router_writes limits.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  router_writes {
    min_change        = 1 # ERROR: min_change out of range
    increase_interval = "-1s" # ERROR: increase_interval must not be negative
    writes_per_minute = 0 # ERROR: writes_per_minute out of range
    burst             = 2.5 # ERROR: burst out of range
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
