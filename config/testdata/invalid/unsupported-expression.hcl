# Only plain values: no arithmetic, conditionals or objects; numbers within range.
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
    ping_rate  = 10 * 2 # ERROR: Unsupported expression
    source     = true ? "1.2.3.4" : "" # ERROR: Unsupported expression
  }

  download {
    ceiling = 1e100000000 # ERROR: Number out of range
  }

  upload {
    ceiling = -"5" # ERROR: Unsupported expression
  }
}
