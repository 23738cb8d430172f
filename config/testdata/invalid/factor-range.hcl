# Factors are in (0,1].
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
    factor_down        = 1.2 # ERROR: factor_down out of range
    factor_down_yellow = 0 # ERROR: factor_down_yellow out of range
  }

  upload {
    ceiling = "10M"
  }
}
