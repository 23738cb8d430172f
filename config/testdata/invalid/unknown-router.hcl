# wan.router names a router that does not exist.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

router "core" {
  url          = "https://10.0.0.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "10.0.0.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"
  router    = "egde" # ERROR: Unknown router "egde"

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
