# RouterOS names: 1-63 of [A-Za-z0-9_.:-].
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether 1" # ERROR: Invalid interface name
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
  }

  download {
    ceiling = "100M"
    queue   = "down/cable" # ERROR: Invalid queue name
  }

  upload {
    ceiling = "10M"
  }
}
