# listen is host:port.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

daemon {
  listen = "127.0.0.1" # ERROR: Invalid listen address
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
