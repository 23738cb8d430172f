# All errors at once: five independent mistakes, five diagnostics.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
  timout       = "2s" # ERROR: Unsupported argument
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8.8"] # ERROR: Invalid reflector
    ping_rate  = 0 # ERROR: ping_rate out of range
  }

  download {
    ceiling = "100X" # ERROR: Invalid rate
  }

  upload {
    ceiling = "10M"
    factor_down = 2 # ERROR: factor_down out of range
  }
}
