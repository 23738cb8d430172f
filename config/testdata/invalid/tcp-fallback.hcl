# tcp_fallback entries are ip:port.
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
    tcp_fallback = [
      "1.1.1.1", # ERROR: Invalid TCP fallback target
      "one.one.one.one:443", # ERROR: Invalid TCP fallback target
    ]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
